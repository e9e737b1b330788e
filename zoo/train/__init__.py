"""One training loop for every model in the zoo (DDPM noise predictors and models with their own loss).

What it guarantees, and how:

- Exact resume. Everything random is drawn from seeded sources whose state is checkpointed: the
  data order and flips are pure functions of (seed, epoch) (``zoo.data.loader``), the timesteps and
  noise come from one ``torch.Generator`` saved with the checkpoint. A run interrupted and resumed
  ends with bit-identical weights to one that ran straight through (same machine, same threads).
- Crash safety. Checkpoints are swapped in atomically (``zoo.runs.checkpoint``); Ctrl-C finishes the
  current step, saves and exits; a non-finite loss stops the run naming the step and keeps the last
  good checkpoint.
- DDP. Under ``torchrun`` each rank trains on its share of every batch (gloo on CPU, NCCL on CUDA);
  only rank 0 writes files.

The rooms, one concern each:

- ``setup``        the run folder, resume checks, data and budget: a fixed :class:`~zoo.train.setup.Run`
- ``state``        :class:`~zoo.train.state.TrainState`, what a checkpoint holds, with save and restore
- ``step``         one optimisation step (forward, finite-loss check, backward, Adam, EMA)
- ``loop``         :func:`train`: the loop over those steps, the stop condition, the hook points
- hooks         :class:`zoo.contract.TrainingHook` (``Hook`` here), the places to plug in (schedules, curves, checks)
- ``log``          ``log.jsonl`` and the progress bar (itself a hook)
- ``curve``        the learning-curve hook (``eval.curve_every``; scoring in :mod:`zoo.curves.score`)
- ``distributed``, ``interrupt``   DDP collectives; Ctrl-C
"""

from zoo.contract import TrainingHook as Hook
from zoo.train.loop import Summary, train
from zoo.train.setup import DEFAULT_EPOCHS, TrainingRun, total_steps
from zoo.train.state import TrainState
from zoo.train.step import TrainingDiverged

__all__ = ["DEFAULT_EPOCHS", "Hook", "TrainingRun", "Summary", "TrainState", "TrainingDiverged", "total_steps", "train"]
