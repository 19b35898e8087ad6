"""PostgreSQL: one function that writes a request's prediction-log rows with an asynchronous
commit, so a web request logs in one statement and one round trip (inference.services.serving).

jsonb, not json: jsonb_populate_recordset took 4.2 ms per 100 rows where json_populate_recordset
took 6.7 ms (measured on this machine, table without indexes).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION modelyard_log_predictions(rows jsonb, async_commit boolean)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    written integer;
BEGIN
    IF async_commit THEN
        -- Local to the calling transaction (the statement's own, in autocommit).
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    INSERT INTO inference_predictionlog (
        id, registered_model_id, model_version_id, ab_test_id, arm, unit_hash, source,
        request_id, features, prediction, probabilities, unknown_categories, latency_ms,
        created_at
    )
    SELECT id, registered_model_id, model_version_id, ab_test_id, arm, unit_hash, source,
           request_id, features, prediction, probabilities, unknown_categories, latency_ms,
           created_at
    FROM jsonb_populate_recordset(NULL::inference_predictionlog, rows);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
"""
DROP = "DROP FUNCTION IF EXISTS modelyard_log_predictions(jsonb, boolean);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("inference", "0001_prediction_log")]
    operations = [migrations.RunPython(create, drop)]
