import math

import numpy as np
import pytest

from fcn_demo.core.metrics import ConfusionMatrix, image_metrics


def test_against_a_hand_computed_confusion_matrix():
    target = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 1, 2, 2, 0, 2])
    cm = ConfusionMatrix(3).update(pred, target)
    # rows = truth, columns = prediction
    np.testing.assert_array_equal(cm.mat, [[3, 1, 0], [0, 2, 1], [1, 0, 2]])
    m = cm.compute()
    assert m["pixel_acc"] == pytest.approx(7 / 10)
    assert m["mean_acc"] == pytest.approx((3 / 4 + 2 / 3 + 2 / 3) / 3)
    iou = [3 / (4 + 4 - 3), 2 / (3 + 3 - 2), 2 / (3 + 3 - 2)]
    assert m["iou"] == pytest.approx(iou)
    assert m["miou"] == pytest.approx(sum(iou) / 3)
    assert m["fwiou"] == pytest.approx((4 * iou[0] + 3 * iou[1] + 3 * iou[2]) / 10)


def test_accumulates_and_leaves_absent_classes_out():
    cm = ConfusionMatrix(3)
    cm.update(np.zeros((2, 2)), np.zeros((2, 2)))
    cm.update(np.ones(3), np.ones(3))
    m = cm.compute()
    assert m["pixel_acc"] == 1.0 and m["miou"] == 1.0
    assert math.isnan(m["iou"][2])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        ConfusionMatrix(3).update(np.zeros(3), np.zeros(4))


def test_image_metrics():
    gt = np.array([[0, 0, 1, 1], [0, 2, 1, 1]], np.uint8)
    perfect = image_metrics(gt, gt)
    assert perfect == {"pixel_acc": 1.0, "miou": 1.0, "border_iou": 1.0}
    pred = gt.copy()
    pred[1, 1] = 1  # the one border pixel called pet
    m = image_metrics(pred, gt)
    assert m["pixel_acc"] == pytest.approx(7 / 8)
    assert m["border_iou"] == 0.0
    assert m["miou"] == pytest.approx((1 + 4 / 5 + 0) / 3)
    with pytest.raises(ValueError):
        image_metrics(pred[:, :3], gt)
