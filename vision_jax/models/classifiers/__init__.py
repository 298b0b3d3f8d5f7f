"""Classifier registry (filled in by the classifier modules)."""
CLASSIFIERS = {}


def get_classifier(name, num_classes, **kwargs):
  if name not in CLASSIFIERS:
    raise ValueError(f"unknown classifier {name!r}; valid: {', '.join(sorted(CLASSIFIERS))}")
  return CLASSIFIERS[name](num_classes=num_classes, **kwargs)
