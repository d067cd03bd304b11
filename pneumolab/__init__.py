"""PneumoLab: a teaching kit for pneumonia detection on chest X-rays.

Modules are small and flat, each with one job:

- ``config``     where the data and caches live, and whether we run in quick mode;
- ``data``       the dataset manifest and the patient-grouped validation split;
- ``reader``     the one image reader (JPEG, PNG, MPO, DICOM) of training, prediction and the panel;
- ``preprocess`` every image transform, shared by training, evaluation and the panel;
- ``pipeline``   ``tf.data`` input pipelines built from a manifest;
- ``download``   fetching the real data (Kaggle, MedMNIST) safely;
- ``cli``        the ``pneumolab`` command.

TensorFlow is imported only by the modules that need it, so ``pneumolab info``
and the data layer start fast. Importing ``pneumolab`` first also keeps
TensorFlow's C++ start-up lines off the screen whoever imports it later
(Keras, a notebook): see :mod:`pneumolab._quiet`.
"""

from pneumolab._quiet import hide_tensorflow_startup_lines

__version__ = "0.1.0"

hide_tensorflow_startup_lines()
