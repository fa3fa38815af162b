"""How the demo draws: the constants every picture of a mask shares (the page, bench/ and training's
sheets read them here, so none of them imports the page)."""

from __future__ import annotations

# A mask's class colours over the photo: the page's opacity slider starts here, and the fixed overlays
# (ground truth, ablations, the reference) use it too.
OVERLAY_OPACITY = 0.55
# The lesson maps' backdrop: a dim grayscale copy of the photo, gray * DIM_SCALE + DIM_LIFT.
DIM_SCALE, DIM_LIFT = 0.45, 40
