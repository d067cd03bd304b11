"""Where a model looks: Grad-CAM, occlusion, the randomization check, border shares and the gallery maps.

``gradcam`` computes Grad-CAM maps of any kit model (finding its feature map
on its own); ``occlusion`` is the model-agnostic second opinion; ``sanity``
checks that maps depend on what the model learned; ``measures`` reads numbers
off maps; ``gallery`` computes the maps of a scored split's calls for the
figures. Everything returns NumPy arrays, tables or records and draws
nothing: the pictures are :mod:`pneumolab.viz`'s (no module here imports
matplotlib or a widget).
Inside the package import from those submodules; this face is for notebooks
and users (``from pneumolab import explain``; ``explain.grad_cam(model, images)``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["gallery", "gradcam", "measures", "occlusion", "sanity"],
    submod_attrs={
        "gradcam": ["feature_layer", "grad_cam"],
        "occlusion": ["occlusion_map"],
        "sanity": ["map_similarity", "randomization_check", "randomized_copy"],
        "measures": ["border_share"],
        "gallery": ["ExplainedCalls", "border_shares", "explain_rows", "model_inputs", "outcome_gallery"],
    },
)
