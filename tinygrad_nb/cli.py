"""The `tinygrad-nb` command. `tinygrad-nb train` trains a small model on scikit-learn's
8x8 handwritten digits and reports its test accuracy; see `tinygrad-nb train --help`."""
import argparse
import os
import sys
import time

# Per model: epochs and Adam's initial learning rate; each reaches >= 97% test accuracy.
DEFAULTS = {"cnn": (10, 3e-3), "mlp": (20, 3e-3), "lstm": (20, 1e-2), "gru": (20, 1e-2)}

DESCRIPTION = """\
tinygrad-nb: a Numba-accelerated autodiff framework with PyTorch's API.

commands:
  train    train a model on the handwritten digits that ship with scikit-learn
           (1,797 8x8 images of 0-9; 1,438 to train on, 359 to test) and print its
           test accuracy. Run `tinygrad-nb train --help` for its options.

example:
  tinygrad-nb train                      # a small CNN, 10 epochs: ~98% test accuracy
  tinygrad-nb train --model lstm         # reads each image row by row as a sequence
  tinygrad-nb train --save digits.npz --plot digits.png
  mpiexec -n 2 tinygrad-nb train --distributed   # data-parallel over two processes
"""

TRAIN_HELP = """\
Train a model on the 8x8 handwritten digits with Adam (its learning rate annealed to 0
along a cosine over the epochs) and cross-entropy, evaluating on the held-out test
images after every epoch, then print the test accuracy.

models (all take (N, 1, 8, 8) images in [0, 1] and return 10 class scores):
  cnn   Conv2d(1,32,3) ReLU MaxPool -> Conv2d(32,64,3) ReLU MaxPool -> Linear(256,128) ReLU Linear(128,10)
  mlp   Flatten -> Linear(64,128) ReLU -> Linear(128,10)
  lstm  an LSTM(8, 64) reads the 8 rows as a sequence; Linear(64,10) on its last state
  gru   the same with a GRU
"""


def _device(name):
    if name != "cpu" and name.split(":")[0] != "cuda":
        raise argparse.ArgumentTypeError(f"unknown device '{name}': expected 'cpu' or 'cuda'")
    return name


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tinygrad-nb", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train", help="train a model on the handwritten digits", description=TRAIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--model", choices=sorted(DEFAULTS), default="cnn", help="which model (default: cnn)")
    train.add_argument("--epochs", type=int, help="passes over the training set (default: 10 for cnn, 20 otherwise)")
    train.add_argument("--batch-size", type=int, default=32, help="images per step (default: 32)")
    train.add_argument("--lr", type=float, help="Adam's learning rate (default: 3e-3; 1e-2 for lstm and gru)")
    train.add_argument("--device", type=_device, default="cpu", help="'cpu' (default) or 'cuda' (needs an NVIDIA GPU and numba-cuda)")
    train.add_argument("--seed", type=int, default=0, help="seed for initialisation and shuffling (default: 0)")
    train.add_argument("--save", metavar="PATH", help="write model and optimizer state here (tinygrad_nb.save format)")
    train.add_argument("--resume", metavar="PATH",
                       help="keep the whole training state here, saved after every epoch, and continue from it "
                            "if it exists: a run stopped and started again ends as one that never stopped")
    train.add_argument("--plot", metavar="PATH", help="write a PNG of loss and accuracy per epoch (needs matplotlib)")
    train.add_argument("--distributed", action="store_true",
                       help="train data-parallel over the processes mpiexec started (mpiexec -n 2 tinygrad-nb train "
                            "--distributed; needs pip install 'tinygrad_nb[mpi]'): --batch-size is the global batch, "
                            "split across them; each takes its share of the cores; only the first prints")
    train.add_argument("--quiet", action="store_true", help="no model table, no progress bars")
    return parser


def train(args):
    import tinygrad_nb as tg
    from tinygrad_nb import data, nn, optim
    from tinygrad_nb.models import MODELS

    start = time.perf_counter()
    epochs, lr = DEFAULTS[args.model]
    epochs, lr = args.epochs or epochs, args.lr or lr
    ranks, say = 1, print
    if args.distributed:
        from tinygrad_nb import distributed

        distributed.init()
        ranks = distributed.world_size()
        if args.batch_size < ranks:
            print(f"tinygrad-nb train: --batch-size {args.batch_size} cannot be split across {ranks} processes",
                  file=sys.stderr)
            return 2
        if ranks > 1:
            distributed.pin_to_cores()
        if not distributed.is_main():
            say = _silent
    train_set, test_set = data.digits("train"), data.digits("test")
    tg.manual_seed(args.seed)
    model = MODELS[args.model]()
    try:
        model.to(args.device)
    except (ImportError, RuntimeError, ValueError) as e:
        print(f"tinygrad-nb train: cannot use device '{args.device}': {e}", file=sys.stderr)
        return 2
    split = f" ({args.batch_size // ranks} on each of {ranks} processes)" if args.distributed else ""
    say(f"{args.model} on the handwritten digits: {len(train_set)} training and {len(test_set)} test images, "
        f"{epochs} epochs, batch {args.batch_size}{split}, Adam lr {lr:g}, device {args.device}, seed {args.seed}")
    if not args.quiet and say is print:
        tg.summary(model, (1, 1, 8, 8))
    if args.distributed:
        sampler = distributed.DistributedSampler(train_set, seed=args.seed)
        train_loader = data.DataLoader(train_set, args.batch_size // ranks, sampler=sampler)
        # Each tests every ranks-th image: fit adds up the counts, so the accuracy is over all 359.
        test_shard = data.TensorDataset(*(a[distributed.rank()::ranks] for a in test_set.arrays))
        trained = distributed.DistributedDataParallel(model)
    else:
        train_loader = data.DataLoader(train_set, args.batch_size, shuffle=True, seed=args.seed)
        test_shard, trained = test_set, model
    test_loader = data.DataLoader(test_shard, batch_size=512)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = tg.fit(trained, train_loader, nn.CrossEntropyLoss(), optimizer, epochs, val_loader=test_loader,
                     scheduler=schedule, progress=not args.quiet, checkpoint=args.resume)
    accuracy = history["val_accuracy"][-1]
    say(f"test accuracy: {accuracy:.2%} ({round(accuracy * len(test_set))}/{len(test_set)} images), "
        f"{time.perf_counter() - start:.1f} s")
    if say is not print:
        return 0
    if args.save:
        tg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history,
                 "config": {"model": args.model, "epochs": epochs, "lr": lr, "batch_size": args.batch_size,
                            "seed": args.seed}}, args.save)
        print(f"saved model and optimizer state to {args.save}")
    if args.plot:
        plot_history(history, args.plot, f"{args.model} on the handwritten digits")
        print(f"wrote the loss and accuracy plot to {args.plot}")
    return 0


def _silent(*args, **kwargs):
    """print, on the ranks that leave the talking to rank 0."""


def plot_history(history, path, title):
    """Two panels, loss and accuracy per epoch, for the training and test sets."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("tinygrad-nb train --plot: needs matplotlib; install it with  pip install 'tinygrad_nb[plot]'")
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, label in ((left, "loss", "cross-entropy loss"), (right, "accuracy", "accuracy")):
        axis.plot(epochs, history[key], marker="o", label="train")
        axis.plot(epochs, history[f"val_{key}"], marker="o", label="test")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    # An 8x8 digit is microseconds of work per sample: too little for Numba's prange workers
    # to pay, and on 2 cores they fight BLAS's own workers, which made each step 4x slower
    # here. Numba reads this when first imported, on the first kernel; once it runs, its
    # thread count is fixed (changing the variable then makes its next compile fail).
    if "numba" not in sys.modules:
        os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    if args.epochs is not None and args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
