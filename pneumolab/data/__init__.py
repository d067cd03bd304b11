"""The data set: the manifest that describes it, the one image reader, its download, and the EDA tables.

``manifest`` is the one description of the data every other part reads (files,
splits, labels, patient ids, the class vocabulary ``TASKS``, the
patient-grouped validation split); ``reader`` (with ``dicom`` and ``image``)
is the one way a file becomes pixels; ``download`` fetches the data sets;
``eda`` computes lesson 01's tables, which :mod:`pneumolab.viz` draws;
the 180 films shipped with the kit stay in ``pneumolab/sample/`` (the one place the
repository holds data set images; ``config.SAMPLE_DIR``). Nothing here imports
TensorFlow, matplotlib or widgets. Inside the package import from those
submodules; this face is for notebooks and users (``from pneumolab import data``;
``data.build_manifest()``, ``data.class_balance(manifest)``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["dicom", "download", "eda", "image", "manifest", "reader"],
    submod_attrs={
        "manifest": ["TASKS", "DataNotFoundError", "DataWarning", "build_manifest", "carve_validation",
                     "class_of", "describe_source", "duplicate_groups", "find_data_dir", "has_causes",
                     "has_patient_ids", "leakage_groups", "n_outputs", "stratified_subset", "summarize",
                     "targets", "usable"],
        "reader": ["NOT_A_FILM", "load_image", "read_image"],
        "image": ["ImageError", "LoadedImage"],
        "eda": ["GROUPED_SPLIT", "RANDOM_SPLIT", "DuplicatePair", "class_balance", "duplicate_pair",
                "geometry", "geometry_summary", "images_per_patient", "intensity_table", "read_gray",
                "sample_images", "shared_patient_ids", "shortcut_auc", "split_leakage"],
    },
)
