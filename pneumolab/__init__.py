"""PneumoLab: a teaching kit for pneumonia detection on chest X-rays.

Modules are small and flat, each with one job:

- ``config``     where the data and caches live, and whether we run in quick mode;
- ``data``       the dataset manifest and the patient-grouped validation split;
- ``preprocess`` every image transform, shared by training, evaluation and the panel;
- ``pipeline``   ``tf.data`` input pipelines built from a manifest;
- ``download``   fetching the real data (Kaggle, MedMNIST) safely;
- ``cli``        the ``pneumolab`` command.

TensorFlow is imported only by the modules that need it, so ``pneumolab info``
and the data layer start fast.
"""

__version__ = "0.1.0"
