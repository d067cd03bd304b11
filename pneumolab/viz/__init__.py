"""Every picture the kit draws: each function takes computed tables, arrays or records and returns a Figure.

``data`` draws the exploration of lesson 01; ``evaluation`` the curves,
confusion matrices, threshold sweeps, reliability and error galleries;
``explain`` overlays and map galleries; ``training`` learning curves;
``shift`` lesson 08's pictures of dataset shift;
``figures`` saves a figure for the course and renders one for a widget. No
function here computes over a split, reads image files or trains: that is
the job of data, metrics and explain, whose results come in as arguments.
Figures are built on :class:`matplotlib.figure.Figure`, not through pyplot,
so nothing is drawn twice or kept alive by pyplot's registry. Inside the
package import from those submodules; this face is for notebooks and users
(``from pneumolab import viz``; ``viz.plot_roc(y, p)``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["data", "evaluation", "explain", "figures", "preprocess", "shift", "training"],
    submod_attrs={
        "data": ["plot_class_balance", "plot_duplicate_pair", "plot_geometry", "plot_images_per_patient",
                 "plot_intensity", "plot_samples", "plot_split_leakage"],
        "evaluation": ["plot_confusion", "plot_errors", "plot_pr", "plot_reliability", "plot_roc",
                       "plot_threshold_sweep"],
        "explain": ["call_captions", "explanation_figure", "explanation_gallery", "map_grid", "overlay"],
        "preprocess": ["compare", "render", "show_augmentations"],
        "shift": ["plot_domain_gallery", "plot_domain_scores", "plot_generalization",
                  "plot_split_reliability", "plot_split_scores", "plot_threshold_transfer"],
        "training": ["plot_history"],
        "figures": ["rendered", "save_figure"],
    },
)
