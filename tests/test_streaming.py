"""What the streaming solvers share: the held-out slice and what chooses the model."""
import numpy as np


def test_without_a_held_out_slice_the_history_holds_no_accuracy_and_the_last_pass_is_kept():
    from classic.learn import SGDLinearSVM
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 10)).astype(np.float32)
    y = np.repeat(np.arange(3), 100)
    X[:, :3] += 2 * np.eye(3, dtype=np.float32)[y]
    model = SGDLinearSVM(max_epochs=4, patience=1, validation_fraction=0, seed=0).fit(X, y)
    assert [h["epoch"] for h in model.history_] == [1, 2, 3, 4]                 # patience plays no part
    assert all("held_out_mean_class_accuracy" not in h for h in model.history_)
    assert model.selected_by_ == "last_epoch" and model.best_epoch_ == 4
    held = SGDLinearSVM(max_epochs=4, validation_fraction=0.2, seed=0).fit(X, y)
    assert held.selected_by_ == "held_out_mean_class_accuracy"
    assert all(0 <= h["held_out_mean_class_accuracy"] <= 1 for h in held.history_)
