"""The prediction log is written with COPY now (inference.services.prediction_log): the
function of migration 0002 goes, and so do the log's database-level foreign keys (a lookup and
a key-share lock on the version row for every logged row). New ids are UUIDv7.
"""

import importlib

import django.db.models.deletion

import inference.ids
from django.db import migrations, models


_0002 = importlib.import_module("inference.migrations.0002_log_predictions_function")


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_0002.DROP)


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_0002.CREATE)


class Migration(migrations.Migration):

    dependencies = [
        ('inference', '0002_log_predictions_function'),
        ('registry', '0003_modelversion_training_job_and_more'),
    ]

    operations = [
        migrations.RunPython(drop_function, create_function),
        migrations.AlterField(
            model_name='predictionlog',
            name='id',
            field=models.UUIDField(default=inference.ids.new_prediction_id, editable=False, primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name='predictionlog',
            name='model_version',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='predictions', to='registry.modelversion'),
        ),
        migrations.AlterField(
            model_name='predictionlog',
            name='registered_model',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='registry.registeredmodel'),
        ),
    ]
