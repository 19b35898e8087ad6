from django.urls import NoReverseMatch, reverse

# The tabs in the order DESIGN.md gives; a tab shows once its page exists (its URL resolves).
TABS = [
    ("Dashboard", "dashboard"),
    ("Datasets", "registry:dataset_list"),
    ("Training", "training:job_list"),
    ("Registry", "registry:model_list"),
    ("Predict", "inference:predict"),
    ("Drift", "monitoring:drift"),
    ("A/B Tests", "abtests:list"),
    ("Monitoring", "monitoring:overview"),
    ("Costs", "monitoring:costs"),
]


def navigation(request):
    tabs = []
    for label, name in TABS:
        try:
            tabs.append({"label": label, "url": reverse(name)})
        except NoReverseMatch:
            continue
    current = request.path
    for tab in tabs:
        root = tab["url"]
        tab["active"] = current == root if root == "/" else current.startswith(root)
    return {"nav_tabs": tabs}
