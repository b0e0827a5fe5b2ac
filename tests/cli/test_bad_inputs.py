"""Acceptance (issue 13): every bad input, through the real command in a fresh process, ends with exit code 2
and exactly one plain line on stderr, no traceback, and leaves an earlier run's files byte-identical and
no new file behind.

Names in capitals inside the arguments stand for prepared paths (see ``PATHS``).

Each case's fresh process is forked from one parent that imported the command line once (``forked_command``),
so a case costs its own work, not an interpreter's and torch's start; a child still running after
``HANG_SECONDS`` is killed and fails its case (the named-pipe cases were hangs). A few representative cases
(``THROUGH_THE_INTERPRETER``) also run through ``python -m optimlab`` itself, to keep the interpreter's start
and the console entry covered.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.forked_command import ForkedCommand

CUDA_MISSING = "cuda:99"  # a GPU index no machine has, so the case holds with or without CUDA

CASES: list[tuple[str, list[str], str]] = [
    # (case, arguments, a piece of the message: the flag or value it must name)
    # --- train: numbers out of range, not numbers, not finite
    ("epochs zero", ["train", "--epochs", "0"], "--epochs"),
    ("epochs negative", ["train", "--epochs", "-1"], "--epochs"),
    ("epochs not a number", ["train", "--epochs", "abc"], "--epochs"),
    ("steps zero", ["train", "--steps", "0"], "--steps"),
    ("lr inf", ["train", "--lr", "inf"], "--lr"),
    ("lr nan", ["train", "--lr", "nan"], "--lr"),
    ("lr negative", ["train", "--lr", "-3"], "--lr"),
    ("lr zero", ["train", "--lr", "0"], "--lr"),
    ("weight decay negative", ["train", "--weight-decay", "-1"], "--weight-decay"),
    ("batch size zero", ["train", "--batch-size", "0"], "--batch-size"),
    ("batch size fraction", ["train", "--batch-size", "1.5"], "--batch-size"),
    ("width zero", ["train", "--width", "0"], "--width"),
    ("depth negative", ["train", "--depth", "-1"], "--depth"),
    ("grad clip zero", ["train", "--grad-clip", "0"], "--grad-clip"),
    ("warmup negative", ["train", "--warmup-steps", "-5"], "--warmup-steps"),
    ("seed negative", ["train", "--seed", "-1"], "--seed"),
    ("seed past 2^32", ["train", "--seed", "4294967296"], "[0, 4294967295]"),
    (
        "warmup past the end",
        ["train", "--steps", "2", "--warmup-steps", "5", "--out", "late"],
        "--warmup-steps",
    ),
    (  # the schedule's own bound: cosine decays after the warmup (it said "at most --steps (20)")
        "warmup of the whole cosine run",
        ["train", "--steps", "20", "--warmup-steps", "50", "--schedule", "cosine", "--out", "late"],
        "50 for --warmup-steps: accepted at most 19: the run's 20 steps less one, for cosine",
    ),
    (  # found once the data says how many steps an epoch is: named as typed, not schedule.warmup_steps
        "warmup past the epochs",
        ["train", "--dataset", "iris", "--epochs", "1", "--warmup-steps", "10", "--out", "late"],
        "for --warmup-steps",
    ),
    (
        "doctor warmup past the epochs",
        ["doctor", "--dataset", "iris", "--epochs", "1", "--warmup-steps", "10", "--no-lr-find"],
        "for --warmup-steps",
    ),
    ("checkpoint every zero", ["train", "--checkpoint-every", "0"], "--checkpoint-every"),
    # int() and float() read these as 10, 10 and 0.001; YAML reads 010 as 8 and 1:30 as 90
    ("steps with a digit separator", ["train", "--steps", "1_0"], "'--steps': '1_0'"),
    ("steps in Arabic-Indic digits", ["train", "--steps", "\u0661\u0660"], "'--steps': '\u0661\u0660'"),
    ("lr with a digit separator", ["lr-find", "--start-lr", "1_0e-4"], "'--start-lr': '1_0e-4'"),
    ("set a digit separator", ["train", "--set", "training.steps=1_0"], "'1_0' would read otherwise"),
    ("set YAML's octal", ["train", "--set", "training.steps=010"], "'010' would read otherwise"),
    ("set YAML's sexagesimal", ["train", "--set", "optimizer.lr=1:30"], "'1:30' would read otherwise"),
    ("set a list's digit", ["train", "--set", "optimizer.betas=[0.9,0_99]"], "'0_99' would read"),
    ("compare YAML's hex", ["compare", "--compare", "optimizer.lr=0x10,1"], "'0x10' would read"),
    ("space bound separator", ["compare", "--optimizers", "sgd", "--space", "optimizer.lr=1_0:20"], "'1_0'"),
    (
        "space choice separator",
        ["compare", "--optimizers", "sgd", "--space", "optimizer.lr=1_0,2"],
        "'1_0' would",
    ),
    (
        "space file octal",
        ["compare", "--optimizers", "sgd", "--space-file", "SPACE_OCTAL"],
        "'010' would read",
    ),
    # --- train: choices, devices, formats
    ("format xml", ["train", "--format", "xml"], "--format"),
    ("precision fp8", ["train", "--precision", "fp8"], "--precision"),
    ("device cuda index", ["train", "--device", CUDA_MISSING], "--device"),
    ("device mps", ["train", "--device", "mps"], "--device"),
    ("device gpu", ["train", "--device", "gpu"], "--device"),
    ("unknown flag", ["train", "--learning-rate", "1"], "--learning-rate"),
    ("unknown verb", ["trian"], "train"),
    ("flag without its value", ["train", "--lr"], "requires an argument. (see 'optimlab train -h')"),
    # --- train: unknown names, shown as typed (no markup eaten)
    ("optimizer typo", ["train", "--optimizer", "adamm"], "adam"),
    ("optimizer with brackets", ["train", "--optimizer", "adam[beta]"], "adam[beta]"),
    ("activation typo", ["train", "--act", "rleu"], "relu"),
    ("init typo", ["train", "--init", "kaiming_wrong"], "--init"),
    ("norm typo", ["train", "--norm", "batchy"], "--norm"),
    ("model typo", ["train", "--model", "mlpp"], "--model"),
    ("schedule typo", ["train", "--schedule", "cosin"], "--schedule"),
    ("scaling typo", ["train", "--scaling", "standardise"], "--scaling"),
    ("dataset typo", ["train", "--dataset", "digitz"], "--dataset"),
    ("dataset file missing", ["train", "--dataset", "nothere.csv"], "nothere.csv"),
    ("dataset empty", ["train", "--dataset", ""], "'--dataset': '' is empty"),  # was "its path: ./."
    ("list filter empty", ["list", "--filter", ""], "'--filter': '' is empty"),  # matched nothing, exit 0
    ("doctor norm blank", ["doctor", "--norm", " "], "'--norm': ' ' is empty"),
    ("tracker unknown", ["train", "--log", "wandb"], "'--log': 'wandb' is not one of tensorboard, mlflow"),
    ("report tracker typo", ["report", "RUN", "--log", "mlfow"], "'--log'"),
    # --- train: recipe files missing or garbage
    ("recipe missing", ["train", "nothere.yaml"], "nothere.yaml"),
    ("recipe binary", ["train", "BINARY"], "binary.yaml"),
    ("recipe not yaml", ["train", "BROKEN_YAML"], "YAML"),
    ("recipe a list", ["train", "LIST_YAML"], "mapping"),
    ("recipe unknown field", ["train", "TYPO_YAML"], "epochz"),
    ("recipe holding itself", ["train", "RECIPE_HOLDING_ITSELF"], "a value that does not hold itself"),
    ("target with a plus", ["doctor", "--dataset", "PANDAS_CSV", "--target", "+9"], "(--target): accepted"),
    ("recipe loss of the other task", ["train", "CE_REGRESSION_YAML", "--steps", "2"], "training.loss"),
    ("recipe binary loss of 10 classes", ["train", "BCE_DIGITS_YAML", "--steps", "2"], "cross_entropy"),
    ("recipe model's own loss on tensors", ["train", "MODEL_LOSS_YAML", "--steps", "2"], "dict batches"),
    ("recipe is a folder", ["train", "EMPTY_DIR"], "not a file"),
    ("recipe is a run's folder", ["doctor", "RUN"], "not a file but a run's folder: give its recipe, '"),
    ("recipe path empty", ["train", ""], "'RECIPE': '' is empty"),
    ("recipe key twice", ["train", "TWICE_YAML"], "'training' twice"),
    # in YAML's words, as the recipe writes it: Python's 'True' is no word of a recipe or a --set
    ("recipe true for a number", ["train", "TRUE_YAML"], "training.epochs: true is a yes/no value"),
    # YAML 1.1's yes (true there, text in YAML 1.2): refused bare wherever it is, as a --set's is
    ("recipe yes for a number", ["train", "YES_YAML"], "at training.epochs, yes is YAML 1.1's true"),
    ("set no for a factory's option", ["train", "--set", "model.options.bias=no"], "quoted for text ('no')"),
    # a recipe written on a GPU machine: torch's AssertionError or RuntimeError deep in the build
    ("recipe device this machine lacks", ["train", "GPU_YAML"], f"{CUDA_MISSING!r} for training.device"),
    ("recipe device torch cannot read", ["train", "BAD_DEVICE_YAML"], "training.device: 'cuda:x' is refused"),
    # --- train: more than the memory holds (25 PB of weights: refused by any allocator)
    ("width past the memory", ["train", "--dataset", "iris", "--width", "100000000000000"], "out of memory"),
    ("width past torch's sizes", ["train", "--dataset", "iris", "--width", "1" + "0" * 15], "out of memory"),
    (
        "depth past the deepest trained",
        ["train", "--dataset", "iris", "--depth", "99999999999"],
        "[0, 10000]",
    ),
    # --- train: output folders
    ("out holds a run", ["train", "--steps", "2", "--out", "RUN"], "RUN"),
    ("out not writable", ["train", "--out", "/proc/optimlab-out"], "--out"),
    ("out is a file", ["train", "--out", "A_FILE"], "--out"),
    ("out holds a study", ["train", "--out", "STUDY"], "holds a study"),
    ("out empty", ["train", "--out", ""], "'--out': '' is empty"),
    # mkdir made a/x, then failed on the file, past the work (a gallery's runs)
    ("out through a new folder to a file", ["train", "--out", "a/x/../../a-file.txt"], "is a file"),
    (
        "gallery out through a new folder to a file",
        ["gallery", "run", "small_init", "--size", "tiny", "--out", "a/x/../../a-file.txt"],
        "'--out': 'a/x/../../a-file.txt' is a file",
    ),
    ("resume no run", ["train", "--resume", "EMPTY_DIR"], "--resume"),
    ("resume with out", ["train", "--resume", "RUN", "--out", "EMPTY_DIR"], "--out"),
    ("resume changed lr", ["train", "--resume", "RUN", "--lr", "0.5"], "resume"),
    # --- doctor and lr-find
    ("doctor steps zero", ["doctor", "--steps", "0"], "--steps"),
    ("doctor html not writable", ["doctor", "--html", "/proc/optimlab.html"], "--html"),
    ("doctor html suffix", ["doctor", "--html", "report.txt"], "--html"),
    ("doctor fail-on info", ["doctor", "--fail-on", "info"], "--fail-on"),
    ("doctor format yaml", ["doctor", "--format", "yaml"], "--format"),
    # found only when the work begins: the progress line waits for it, so stderr holds the error alone
    ("doctor ragged csv", ["doctor", "--dataset", "RAGGED_CSV"], "row 3 of ragged.csv"),
    ("lr-find ragged csv", ["lr-find", "--dataset", "RAGGED_CSV"], "row 3 of ragged.csv"),
    (
        "doctor target not a header",
        ["doctor", "--dataset", "PANDAS_CSV", "--target", "lable"],
        "(--target) 'lable'",
    ),
    (
        "doctor target out of range",
        ["doctor", "--dataset", "PANDAS_CSV", "--target", "4"],
        "(--target): accepted",
    ),
    # int() read these as positions 10 and 1: no CSV reader calls them numbers (text_number)
    (
        "doctor target with a digit separator",
        ["doctor", "--dataset", "PANDAS_CSV", "--target", "1_0"],
        "(--target) '1_0'",
    ),
    (
        "doctor target in Arabic-Indic digits",
        ["doctor", "--dataset", "PANDAS_CSV", "--target", "\u0661"],
        "(--target) '\u0661'",
    ),
    (
        "lr-find target pandas' index",
        ["lr-find", "--dataset", "PANDAS_CSV", "--target", "0"],
        "pandas' row index",
    ),
    # a named pipe no process writes to: its read waited for ever, the run never starting nor failing
    (
        "dataset a named pipe",
        ["train", "--dataset", "PIPE"],
        "for --dataset: accepted a regular file or a folder, not a named pipe",
    ),
    ("recipe data a named pipe", ["train", "PIPE_DATA_YAML"], "'pipe.csv' for data.name: accepted a regular"),
    ("doctor empty image folder", ["doctor", "--dataset", "EMPTY_DIR"], "EMPTY_DIR"),
    ("doctor damaged image", ["doctor", "--dataset", "DAMAGED_IMAGES"], "2.png"),
    ("doctor target of an image folder", ["doctor", "--dataset", "IMAGES", "--target", "1"], "image folder"),
    ("train folder by its bare name", ["train", "--dataset", "images"], "./images"),
    # MNIST's own file names hold no dot: 'unknown dataset', the file in the folder not named
    ("train IDX file by its bare name", ["train", "--dataset", "train-images-idx3-ubyte"], "./train-images"),
    ("train target of a built-in", ["train", "--dataset", "iris", "--target", "1"], "--target"),
    ("compare target without a file", ["compare", "--optimizers", "sgd", "--target", "y"], "--target"),
    (
        "bench target of a built-in",
        ["bench", "--workloads", "digits_mlp", "--dataset", "iris", "--target", "y"],
        "'iris' is a built-in data set",
    ),
    ("lr-find range reversed", ["lr-find", "--start-lr", "1", "--end-lr", "0.1"], "--end-lr"),
    ("lr-find one step", ["lr-find", "--sweep-steps", "1"], "--sweep-steps"),
    ("lr-find lr it would not use", ["lr-find", "--lr", "0.5"], "--lr: accepted none: lr-find sweeps"),
    ("lr-find plot suffix", ["lr-find", "--plot", "lr.pdf"], "--plot"),
    ("lr-find end inf", ["lr-find", "--end-lr", "inf"], "--end-lr"),
    ("lr-find budget negative", ["lr-find", "--check-budget", "-1"], "--check-budget"),
    ("doctor budget not a number", ["doctor", "--check-budget", "soon"], "--check-budget"),
    (  # was silently ignored
        "doctor budget without the lr check",
        ["doctor", "--no-lr-find", "--check-budget", "5"],
        "for --check-budget: accepted only with the lr check",
    ),
    # --- compare
    ("compare epochs zero", ["compare", "--optimizers", "sgd", "--epochs", "0"], "--epochs"),
    ("compare seeds zero", ["compare", "--optimizers", "sgd", "--seeds", "0"], "--seeds"),
    ("compare budget zero", ["compare", "--optimizers", "sgd", "--budget", "0"], "--budget"),
    ("compare workers zero", ["compare", "--optimizers", "sgd", "--workers", "0"], "--workers"),
    ("compare workers negative", ["compare", "--optimizers", "sgd", "--workers", "-1"], "--workers"),
    (
        "compare storage not a url",
        ["compare", "--optimizers", "sgd", "--storage", "notaurl:::"],
        "notaurl:::",
    ),
    (
        "compare sqlite unreachable",
        ["compare", "--optimizers", "sgd", "--storage", "sqlite:///no/such/x.db"],
        "--storage",
    ),
    ("compare protocol", ["compare", "--optimizers", "sgd", "--protocol", "bayes"], "--protocol"),
    ("compare backend", ["compare", "--optimizers", "sgd", "--backend", "gpu"], "--backend"),
    ("compare pruner", ["compare", "--optimizers", "sgd", "--pruner", "always"], "--pruner"),
    ("compare optimizer typo", ["compare", "--optimizers", "sgd,adamm"], "adamm"),
    (  # it named the recipe field alone: "for values compared for 'optimizer.name'"
        "compare optimizer twice",
        ["compare", "--optimizers", "adam,Adam"],
        "for values compared for 'optimizer.name (--optimizers)': accepted distinct values: 'adam' and 'Adam'",
    ),
    (  # "invalid value 'optimizer.name' for compare", neither flag named; under a budget below the space's
        # grid, "the grid over optimizer.name (--optimizers)", the searched field named as the compared one
        "compare optimizers also searched",
        ["compare", "--optimizers", "sgd,adam", "--space", "optimizer.name=sgd,adam", "--budget", "1"],
        "the field compared for 'optimizer.name (--optimizers)' is searched too, by the search space (--space,",
    ),
    (  # under a budget below the grid, "the points of the grid over model.activation (--compare)"
        "compare field also searched",
        [
            "compare",
            "--compare",
            "model.activation=relu,tanh",
            "--space",
            "model.activation=relu,tanh,gelu",
            "--protocol",
            "grid",
            "--budget",
            "2",
        ],
        "the field compared for 'model.activation (--compare)' is searched too, by the search space (--space,",
    ),
    ("compare field without values", ["compare", "--compare", "model.activation"], "--compare"),
    ("compare value out of range", ["compare", "--compare", "optimizer.lr=-1,2"], "optimizer.lr (--compare)"),
    ("compare a section", ["compare", "--compare", "optimizer=sgd,adam"], "e.g. optimizer.name=sgd,adam"),
    ("compare value not yaml", ["compare", "--compare", "optimizer.lr=[,2"], "for --compare"),  # "a file"
    (
        "space value not yaml",
        ["compare", "--optimizers", "sgd", "--space", "optimizer.lr=[1,2"],
        "'optimizer.lr=[1,2' for --space",
    ),
    (  # the range's own checks named the field alone ("search range of 'optimizer.lr'"), not the flag
        "space range reversed",
        ["compare", "--optimizers", "sgd", "--space", "optimizer.lr=1:0.1"],
        "'optimizer.lr=1:0.1' for --space: accepted finite bounds, low <= high",
    ),
    (
        "space log range from zero",
        ["compare", "--optimizers", "sgd", "--space", "optimizer.lr=0:1:log"],
        "'optimizer.lr=0:1:log' for --space",
    ),
    # the model and data set each verb replaces were named as recipe fields (model.name, data.name)
    ("compare model typo", ["compare", "--optimizers", "sgd", "--model", "mlpp"], "--model: unknown model"),
    ("compare dataset typo", ["compare", "--optimizers", "sgd", "--dataset", "digitz"], "--dataset: unknown"),
    ("bench model typo", ["bench", "--workloads", "digits_mlp", "--model", "mlpp"], "--model: unknown model"),
    ("compare nothing", ["compare"], "--optimizers"),
    ("compare workload typo", ["compare", "--optimizers", "sgd", "--workload", "digits-mpl"], "digits_mlp"),
    (  # it stored the first study, then was refused at the second: "pass resume=True (--resume)"
        "compare workload twice",
        ["compare", "--optimizers", "sgd", "--workload", "digits_mlp,Digits-MLP"],
        "(--workload): accepted each workload once (digits_mlp twice)",
    ),
    # each verb takes the other's spelling too: "No such option: --workloads" in compare, --workload in bench
    ("compare workloads in bench's spelling", ["compare", "--optimizers", "sgd", "--workloads", "x"], "'x'"),
    ("bench workload in compare's spelling", ["bench", "--workload", "digits_mlpp"], "digits_mlp"),
    ("compare resume no study", ["compare", "--resume", "RUN"], "--resume"),
    ("compare resume with budget", ["compare", "--resume", "RUN", "--budget", "3"], "--budget"),
    (
        "compare space file missing",
        ["compare", "--optimizers", "sgd", "--space-file", "nothere.yaml"],
        "nothere",
    ),
    (
        "compare grid over budget",
        [
            "compare",
            "--optimizers",
            "sgd",
            "--space",
            "model.activation=relu,tanh,gelu",
            "--space",
            "model.norm=none,batch,layer",
            "--budget",
            "4",
        ],
        "(--budget): accepted a budget >= 9",
    ),
    ("compare members without batched", ["compare", "--optimizers", "sgd", "--members", "3"], "--members"),
    (
        "compare ray address without ray",
        ["compare", "--optimizers", "sgd", "--ray-address", "auto"],
        "only with --backend ray",
    ),
    (
        "compare space field twice",
        [
            "compare",
            "--optimizers",
            "sgd",
            "--space",
            "optimizer.lr=1e-4:1e-1",
            "--space",
            "optimizer.lr=1e-3:1e-2",
        ],
        "optimizer.lr is given twice",
    ),
    (
        "compare space and space file",
        ["compare", "--optimizers", "sgd", "--space", "optimizer.lr=1e-4:1e-1", "--space-file", "TAB_YAML"],
        "--space-file",
    ),
    ("compare out holds a run", ["compare", "--optimizers", "sgd", "--out", "RUN"], "holds a training run"),
    ("compare name empty", ["compare", "--optimizers", "sgd", "--name", ""], "'--name': '' is empty"),
    ("compare threads zero", ["compare", "--optimizers", "sgd", "--threads", "0"], "--threads"),
    (
        "compare threads past the cores",
        ["compare", "--optimizers", "sgd", "--threads", "100000"],
        "--threads",
    ),
    ("compare optimizers none named", ["compare", "--optimizers", ",,"], "--optimizers"),
    ("compare workload none named", ["compare", "--optimizers", "sgd", "--workload", ","], "--workload"),
    ("compare resume empty", ["compare", "--resume", ""], "'--resume': '' is empty"),
    ("compare data dir missing", ["compare", "--optimizers", "sgd", "--data-dir", "/no/such"], "--data-dir"),
    (
        "compare space file with a tab",
        ["compare", "--optimizers", "sgd", "--space-file", "TAB_YAML"],
        "line 2, column 1",
    ),
    # a space file's error said 'a file is not valid YAML' or 'is binary', of no file named
    ("compare space file binary", ["compare", "--optimizers", "sgd", "--space-file", "BINARY"], "BINARY"),
    (
        "compare space file broken",
        ["compare", "--optimizers", "sgd", "--space-file", "BROKEN_YAML"],
        "BROKEN_YAML",
    ),
    (
        "compare space file a list",
        ["compare", "--optimizers", "sgd", "--space-file", "LIST_YAML"],
        "LIST_YAML",
    ),
    # --- worker
    ("worker folder missing", ["worker", "runs/nonexistent"], "runs/nonexistent"),
    ("worker not a url", ["worker", "notaurl:::"], "notaurl:::"),
    ("worker folder without study", ["worker", "RUN"], "study"),
    ("worker threads zero", ["worker", "RUN", "--threads", "0"], "--threads"),
    ("worker threads past the cores", ["worker", "RUN", "--threads", "100000"], "--threads"),
    ("worker name empty", ["worker", "RUN", "--name", " "], "'--name': ' ' is empty"),
    ("worker location empty", ["worker", ""], "'LOCATION': '' is empty"),
    ("worker methods none named", ["worker", "RUN", "--methods", ",,"], "--methods"),
    ("worker sqlite missing", ["worker", "sqlite:///no/such/x.db"], "sqlite"),
    # refused by the storage after 'worker: training the waiting trials of ...' began, a second line
    ("worker journal of no study", ["worker", "STUDY"], "no optimlab study"),
    # --- bench
    ("bench nothing", ["bench"], "--suite"),
    ("bench suite and workloads", ["bench", "--suite", "small", "--workloads", "digits_mlp"], "one of them"),
    ("bench suite typo", ["bench", "--suite", "smal"], "small"),
    ("bench workload typo", ["bench", "--workloads", "digits_mlpp"], "digits_mlp"),
    ("bench figure format", ["bench", "--suite", "small", "--figure-format", "jpg"], "--figure-format"),
    ("bench format png", ["bench", "--suite", "small", "--format", "png"], "--format"),
    ("bench seeds zero", ["bench", "--suite", "small", "--seeds", "0"], "--seeds"),
    ("bench cost", ["bench", "--suite", "small", "--cost", "minutes"], "--cost"),
    ("bench resume no bench", ["bench", "--resume", "RUN"], "bench.json"),
    ("bench workload twice", ["bench", "--workloads", "digits_mlp,digits_mlp"], "--workloads"),
    # an optimizer twice, by another spelling or alias: refused before the folder, naming the flag
    (
        "bench optimizer twice",
        ["bench", "--workloads", "digits_mlp", "--optimizers", "sgd,SGD"],
        "--optimizers",
    ),
    (
        "bench optimizer alias twice",
        ["bench", "--workloads", "digits_mlp", "--optimizers", "momentum,heavy_ball"],
        "'momentum' and 'heavy_ball'",
    ),
    (
        "bench optimizer path twice",
        [
            "bench",
            "--workloads",
            "digits_mlp",
            "--optimizer-path",
            "torch.optim:SGD",
            "--optimizer-path",
            "torch.optim:SGD",
        ],
        "--optimizer-path",
    ),
    ("bench budget zero", ["bench", "--suite", "small", "--budget", "0"], "--budget"),
    # a folder that holds a study: its files were written over (bench.json) or mixed with a bench's
    ("bench out holds a study", ["bench", "--workloads", "digits_mlp", "--out", "STUDY"], "--resume"),
    ("bench budget negative", ["bench", "--suite", "small", "--budget", "-2"], "--budget"),
    ("bench seeds negative", ["bench", "--suite", "small", "--seeds", "-1"], "--seeds"),
    # a user optimizer whose first step fails (the second method: only the first was tried), or unreadable
    (
        "bench user optimizer cannot step",
        [
            "bench",
            "--workloads",
            "digits_mlp",
            "--optimizers",
            "sgd",
            "--optimizer-path",
            "torch.optim:LBFGS",
        ],
        "closure",
    ),
    (
        "bench user optimizer without a signature",
        ["bench", "--workloads", "digits_mlp", "--optimizer-path", "torch:tensor"],
        "torch:tensor",
    ),
    (
        "bench optimizer path missing",
        ["bench", "--workloads", "digits_mlp", "--optimizers", "sgd", "--optimizer-path", "nomod:X"],
        "nomod",
    ),
    ("bench data dir missing", ["bench", "--workloads", "mnist_cnn", "--data-dir", "/no/such"], "--data-dir"),
    ("bench workers with batched", ["bench", "--workloads", "digits_mlp", "--workers", "2"], "--workers"),
    ("bench data dir empty", ["bench", "--workloads", "mnist_cnn", "--data-dir", ""], "--data-dir"),
    ("bench optimizer typo", ["bench", "--workloads", "digits_mlp", "--optimizers", "adamm"], "--optimizers"),
    (
        "bench optimizer path not one",
        ["bench", "--workloads", "digits_mlp", "--optimizer-path", "nocolon"],
        "--optimizer-path",
    ),
    # --- plot-schedule, list, gallery
    ("plot-schedule name typo", ["plot-schedule", "cosne"], "cosne"),
    ("schedule out suffix", ["plot-schedule", "cosine", "--out", "x.pdf"], "--out"),
    ("schedule out not writable", ["plot-schedule", "cosine", "--out", "/proc/s.png"], "--out"),
    ("schedule steps zero", ["plot-schedule", "cosine", "--steps", "0"], "--steps"),
    ("schedule option without value", ["plot-schedule", "cosine", "--option", "gamma"], "--option"),
    (
        "schedule warmup past the end",
        ["plot-schedule", "cosine", "--steps", "10", "--warmup-steps", "20"],
        "--warmup-steps",
    ),
    (
        "schedule warmup before a metric-driven one",
        ["plot-schedule", "reduce_on_plateau", "--warmup-steps", "2"],
        "invalid value 2 for --warmup-steps: accepted 0",
    ),
    ("schedule none named", ["plot-schedule"], "SCHEDULE"),
    (
        "schedule option none takes",
        ["plot-schedule", "cosine", "wsd", "--option", "gama=2"],
        "(for --option)",
    ),
    ("schedule option out of range", ["plot-schedule", "cosine", "--option", "final=2"], "'--option'"),
    ("schedule option without a name", ["plot-schedule", "cosine", "--option", "=2"], "--option '=2'"),
    # --- report: its page (was an OSError's bare "File exists"/"Is a directory", or a page in r.txt)
    ("report out not writable", ["report", "RUN", "--out", "/proc/r.html"], "--out"),
    ("report out is a folder", ["report", "RUN", "--out", "EMPTY_DIR"], "--out"),
    ("report out under a file", ["report", "RUN", "--out", "a-file.txt/r.html"], "--out"),
    ("report out suffix", ["report", "RUN", "--out", "r.txt"], "--out"),
    ("report sqlite missing", ["report", "sqlite:///nothere.db"], "nothere.db"),  # was created, empty
    ("report path missing", ["report", "RUN", "nothere"], "'PATH': 'nothere' does not exist"),
    ("report path empty", ["report", ""], "'PATH': '' is empty"),
    ("report run twice", ["report", "RUN", "./run"], "'./run' is given twice"),
    ("report run with a binary file", ["report", "RUN", "BINARY_RUN"], "BINARY_RUN"),  # named no file
    ("list unknown category", ["list", "nope"], "nope"),
    ("gallery unknown experiment", ["gallery", "run", "nope"], "nope"),
    ("gallery all misspelt", ["gallery", "run", "alll"], "Did you mean 'all'?"),  # 'all' was not offered
    ("gallery size", ["gallery", "run", "all", "--size", "huge"], "--size"),
    ("gallery format", ["gallery", "--format", "xml"], "--format"),
    ("gallery out is a file", ["gallery", "run", "he_init", "--out", "A_FILE"], "--out"),
    ("gallery out not writable", ["gallery", "run", "he_init", "--out", "/proc/g"], "--out"),
    (
        "gallery flag without its value",
        ["gallery", "run", "all", "--size"],
        "(see 'optimlab gallery run -h')",
    ),
]


def _digest(folder: Path) -> dict[str, str | bool]:
    """Every file's hash, and every folder (a refused run left its empty --out folder behind) or named
    pipe (not read: with no writer, for ever) as whether it is a folder."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else p.is_dir()
        for p in sorted(folder.rglob("*"))
    }


def _optimlab(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "optimlab", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


HANG_SECONDS = 120  # a case's whole run, the cases that train included, on a loaded 2-core machine

# One per kind of refusal: typer's parse, a value check, a recipe file read, a named pipe's hang, a folder
THROUGH_THE_INTERPRETER = [
    "epochs zero",
    "unknown verb",
    "recipe not yaml",
    "dataset a named pipe",
    "out holds a run",
]


@pytest.fixture(scope="module")
def forked(forked_parents: Callable[..., ForkedCommand]) -> ForkedCommand:
    """The session's parent that forks each case's process (tests/conftest.py); a child takes the
    environment, folder and files of its request, so the parent's own start is shared with other files."""
    return forked_parents()


@pytest.fixture(scope="module")
def place(
    tmp_path_factory: pytest.TempPathFactory, forked: ForkedCommand
) -> tuple[Path, dict[str, str], dict[str, Path]]:
    """A working folder holding one real finished run and the garbage files the cases name."""
    root = tmp_path_factory.mktemp("bad-inputs")
    env = {k: v for k, v in os.environ.items() if k != "OPTIMLAB_DEBUG"}
    cache = tmp_path_factory.mktemp("cache")  # the catalog of names, built by the first name checked
    env.update(OMP_NUM_THREADS="1", COLUMNS="80", XDG_CACHE_HOME=str(cache))
    train = [
        "train",
        "--dataset",
        "iris",
        "--steps",
        "3",
        "--out",
        "run",
        "--no-progress",
        "--format",
        "json",
    ]
    code, _, err = forked.run(train, root, env, tmp_path_factory.mktemp("run-output"), HANG_SECONDS)
    assert code == 0, err
    paths = {"RUN": root / "run", "EMPTY_DIR": root / "empty", "A_FILE": root / "a-file.txt"}
    paths["EMPTY_DIR"].mkdir()
    paths["STUDY"] = root / "study"  # a study's journal, as compare leaves it (empty: only its name counts)
    paths["STUDY"].mkdir()
    (paths["STUDY"] / "study.journal").touch()
    (paths["STUDY"] / "study.journal.flock").touch()  # optuna's lock, made by any opening of the journal
    paths["A_FILE"].write_text("not a folder\n")
    paths["BINARY_RUN"] = root / "binary-run"  # a run whose metrics are no text
    shutil.copytree(paths["RUN"], paths["BINARY_RUN"])
    (paths["BINARY_RUN"] / "metrics.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage")
    for key, name, content in (
        ("BINARY", "binary.yaml", b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage"),
        ("BROKEN_YAML", "broken.yaml", b"training: [epochs: 3\n  :: }"),
        ("LIST_YAML", "list.yaml", b"- a\n- b\n"),
        ("TYPO_YAML", "typo.yaml", b"training:\n  epochz: 3\n"),
        ("TWICE_YAML", "twice.yaml", b"training: {epochs: 1}\ntraining: {epochs: 2}\n"),
        ("YES_YAML", "yes.yaml", b"training: {epochs: yes}\n"),
        ("TRUE_YAML", "true.yaml", b"training: {epochs: true}\n"),
        ("NULL_KEY_YAML", "null-key.yaml", b"optimizer: {null: adam}\n"),
        ("LIST_KEY_YAML", "list-key.yaml", b"? [a]\n: 1\n"),
        ("HUGE_WIDTH_YAML", "width.yaml", b"data: {name: iris}\nmodel: {width: 1e30}\n"),
        ("GPU_YAML", "gpu.yaml", f"data: {{name: iris}}\ntraining: {{device: '{CUDA_MISSING}'}}\n".encode()),
        (
            "BAD_DEVICE_YAML",
            "cudax.yaml",
            b"data: {name: iris}\ntraining: {device: 'cuda:x'}\n",
        ),  # YAML 1.1: True, which pydantic took for 1
        ("TAB_YAML", "tab.yaml", b"optimizer.lr:\n\t[0.1, 0.01]\n"),
        ("SPACE_OCTAL", "octal_space.yaml", b"training.steps: [010, 20]\n"),  # YAML 1.1: [8, 20]
        (
            "RECIPE_HOLDING_ITSELF",
            "itself.yaml",
            b"data: {name: iris}\noptimizer: {name: adam, betas: &a [0.9, *a]}\n",
        ),
        (
            "CE_REGRESSION_YAML",
            "ce.yaml",
            b"data: {name: teacher_student}\ntraining: {loss: cross_entropy}\n",
        ),
        ("BCE_DIGITS_YAML", "bce.yaml", b"data: {name: digits}\ntraining: {loss: bce}\n"),
        ("MODEL_LOSS_YAML", "own.yaml", b"data: {name: digits}\ntraining: {loss: model}\n"),
        ("PIPE_DATA_YAML", "pipe.yaml", b"data: {name: pipe.csv}\ntraining: {steps: 1}\n"),
        ("RAGGED_CSV", "ragged.csv", b"1,2,0\n3,4,1\n5,6\n"),
        ("PANDAS_CSV", "pandas.csv", b",a,b,label\n0,1,2,0\n1,3,4,1\n2,5,6,0\n3,7,8,1\n"),
        ("IDX_IMAGES", "train-images-idx3-ubyte", b"\x00\x00\x08\x03" + bytes(4 * 3)),
    ):
        paths[key] = root / name
        paths[key].write_bytes(content)
    paths["PIPE"] = root / "pipe.csv"
    os.mkfifo(paths["PIPE"])
    from PIL import Image

    paths["IMAGES"], paths["DAMAGED_IMAGES"] = root / "images", root / "damaged"
    for folder in (paths["IMAGES"], paths["DAMAGED_IMAGES"]):
        for value, name in ((0, "dark"), (255, "light")):
            (folder / name).mkdir(parents=True)
            Image.new("L", (4, 4), value).save(folder / name / "1.png")
    (paths["DAMAGED_IMAGES"] / "light" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    return root, env, paths


def test_the_table_holds_at_least_sixty_distinct_inputs():
    cases = [case for case, _, _ in CASES + IN_PROCESS]
    assert len(CASES) >= 60 and len(set(cases)) == len(cases)


@pytest.mark.parametrize("case, args, named", CASES, ids=[case for case, _, _ in CASES])
def test_a_bad_input_is_one_line_exit_2_and_touches_nothing(place, forked, tmp_path, case, args, named):
    root, env, paths = place
    before = _digest(root)
    done = forked.run([str(paths[a]) if a in paths else a for a in args], root, env, tmp_path, HANG_SECONDS)
    assert done[0] is not None, (case, f"still running after {HANG_SECONDS} s", done[2])
    _assert_refused(case, done, str(paths.get(named, named)))
    assert _digest(root) == before, case  # the run's files unchanged, nothing created


@pytest.mark.parametrize("case", THROUGH_THE_INTERPRETER)
def test_a_bad_input_through_python_m_optimlab_is_one_line_exit_2_and_touches_nothing(place, case):
    root, env, paths = place
    args, named = next((args, named) for name, args, named in CASES if name == case)
    before = _digest(root)
    done = _optimlab([str(paths[a]) if a in paths else a for a in args], root, env)
    _assert_refused(case, (done.returncode, done.stdout, done.stderr), str(paths.get(named, named)))
    assert _digest(root) == before, case


# Cases that need no fresh process (no hang to time out, no process-wide state): the command run in this
# one, as the ``cli`` fixture runs it, under the same checks.
IN_PROCESS: list[tuple[str, list[str], str]] = [
    (  # pydantic's words, of a number: 'Unable to parse input string as an integer, exceeded maximum size'
        "recipe width past 64 bits",
        ["train", "HUGE_WIDTH_YAML"],
        "model.width: 1e+30 is refused: accepted an integer in [1, 9223372036854775807] (int64's bound)",
    ),
    (  # 0.0 as a float: taken as no weight decay, where --lr 1e-400 said it was outside (0, inf)
        "weight decay below the smallest float",
        ["train", "--dataset", "iris", "--steps", "1", "--weight-decay", "1e-400"],
        "'--wd': '1e-400' is below the smallest float, about 5e-324: accepted a number in [0, inf)",
    ),
    (  # pydantic's words: "Input should be a valid number (got None)", naming no range
        "set null for a number that takes none",
        ["train", "--set", "data.val_fraction=null"],
        "data.val_fraction: null is refused: accepted a number in [0, 1)",
    ),
    # infinity refused with a range ending at inf: 'is not a number in (0, inf)' read as if held by it
    (
        "set inf for the lr",
        ["train", "--set", "optimizer.lr=.inf"],
        "inf is refused: accepted a finite number in (0, inf)",
    ),
    # a whole number's field by the schedule the same command names: the recipe before it was read
    *(
        (
            f"set a step size below the smallest float, its schedule by {how}",
            ["train", *args],
            "invalid value 1e-400 for schedule 'step' hyperparameter 'step_size': accepted an integer in [1, inf)",
        )
        for how, args in (
            ("--set", ["--set", "schedule.name=step", "--set", "schedule.step_size=1e-400"]),
            ("--schedule", ["--schedule", "step", "--set", "schedule.step_size=1e-400"]),
            ("a later --set", ["--set", "schedule.step_size=1e-400", "--set", "schedule.name=step"]),
        )
    ),
    # a batch past any held in memory: it trained on the whole split, the recipe recording 1e18
    (
        "batch size 1e18",
        ["train", "--batch-size", "1e18"],
        "'1e18' is not accepted: an integer in [1, 2147483647]",
    ),
    (
        "set a batch size of 1e18",
        ["train", "--set", "training.batch_size=1e18"],
        "training.batch_size: 1e+18 is refused: accepted an integer in [1, 2147483647]",
    ),
    (  # a TypeError traceback of the loop counting the run's steps
        "set a run of no length",
        ["train", "--dataset", "iris", "--set", "training.epochs=null"],
        "invalid value 'training.epochs=null' for --set: accepted an integer >= 1, or null beside a number of steps",
    ),
    ("lr inf named not finite", ["train", "--lr", "inf"], "'--lr': 'inf' is not a finite number in (0, inf)"),
    (
        "lr past every float",
        ["train", "--lr", "1e999"],
        "'1e999' is not accepted: a finite number in (0, inf)",
    ),
    (
        "set the text inf for the lr",
        ["train", "--set", "optimizer.lr=inf"],
        "'inf' is refused: accepted a finite",
    ),
    (
        "set inf for a hyperparameter",
        ["train", "--set", "model.init={name: he, gain: .inf}"],
        "hyperparameter 'gain': accepted a finite number in (0, inf)",
    ),
    (  # an int no float holds: OverflowError: int too large to convert to float
        "set an lr past every float",
        ["train", "--dataset", "iris", "--set", "optimizer.lr=1" + "0" * 400],
        "optimizer.lr: 1" + "0" * 400 + " is refused: accepted a number in (0, inf)",
    ),
    (  # it called the number of epochs an unknown section
        "set a field inside a number",
        ["train", "--set", "training.epochs.x=1"],
        "'training.epochs' in 'training.epochs.x' holds a value, not fields",
    ),
    (  # the --set's own field, named as a flag's: '--init.gain' in '--init.gain.x'
        "set past a hyperparameter's value beside its technique's flag",
        ["train", "--init", "he", "--set", "model.init.gain.x=1"],
        "'model.init.gain' in 'model.init.gain.x' holds a value, not fields: set it whole, model.init.gain=VALUE",
    ),
    # a TypeError traceback each: difflib's of the key null, the YAML loader's of a list as a key
    ("recipe key null", ["train", "NULL_KEY_YAML"], "optimizer.options: the key null is refused"),
    ("recipe key a list", ["train", "LIST_KEY_YAML"], "line 1, column 3: found unhashable key"),
    (  # infinity as a float: it named [1, inf), a range that seems to hold it
        "steps past every float",
        ["train", "--steps", "1e999"],
        f"'1e999' is not accepted: an integer in [1, {2**63 - 1}] (int64's bound)",
    ),
    # a path holding no name ('.' has no parts) passes the check of its names' length
    (
        "schedule out the current folder",
        ["plot-schedule", "cosine", "--out", "."],
        "'.': accepted a file ending",
    ),
    # whole numbers are read as a recipe reads them (1e3 is 1000), and a fraction stays refused
    (
        "epochs a fraction by its exponent",
        ["train", "--epochs", "15e-1"],
        "'--epochs': '15e-1' is not accepted",
    ),
    (  # it said 'below the smallest float', of a count: a fraction, no whole number
        "epochs a fraction below the smallest float",
        ["train", "--epochs", "0.5e-400"],
        "'--epochs': '0.5e-400' is not accepted: an integer in [1, inf)",
    ),
    (  # it named no key: 'the value is not a number, word or list', of a mapping YAML refused
        "schedule option key twice",
        ["plot-schedule", "multistep", "--option", "milestones={a: 1, a: 2}"],
        "found the key 'a' twice (the second would replace the first)",
    ),
    (  # read as YAML's nothing, None: the keyword's default drawn, where --set refused an empty value
        "schedule option of an empty value",
        ["plot-schedule", "wsd", "--option", "decay_fraction="],
        "invalid value 'decay_fraction=' for --option: accepted a value YAML reads: a number, a word, null,",
    ),
    (  # a comment alone, YAML's empty document: read as None, the keyword's default drawn
        "schedule option of a comment alone",
        ["plot-schedule", "wsd", "--option", "decay_fraction=#x"],
        "invalid value 'decay_fraction=#x' for --option: accepted a value YAML reads: a number, a word, null,",
    ),
    (  # read as null: the epochs of a run of --steps 1, where a value was asked for
        "set a comment alone",
        ["train", "--dataset", "iris", "--set", "training.epochs= #x", "--steps", "1"],
        "'training.epochs= #x' for --set: accepted a value YAML reads: a number, a word, null, [a, list] or "
        "{a: mapping} (from a # on, YAML reads a comment: quote the value for text)",
    ),
    (  # a float rounds it to 9007199254740994, a whole number: the run took that many steps
        "steps a fraction a float rounds away",
        ["train", "--steps", "9007199254740993.5"],
        "'--steps': '9007199254740993.5' is not accepted: an integer in [1, inf)",
    ),
]


@pytest.mark.parametrize("case, args, named", IN_PROCESS, ids=[case for case, _, _ in IN_PROCESS])
def test_a_bad_input_in_this_process_is_one_line_exit_2_and_touches_nothing(
    place, cli, monkeypatch, case, args, named
):
    root, _, paths = place
    monkeypatch.chdir(root)
    before = _digest(root)
    _assert_refused(case, cli(*[str(paths[a]) if a in paths else a for a in args]), named)
    assert _digest(root) == before, case


def _assert_refused(case: str, done: tuple[int, str, str], named: str) -> None:
    """Exit code 2 and one plain line on stderr naming ``named``, no traceback."""
    code, out, err = done
    lines = err.strip().splitlines()
    assert code == 2, (case, code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), (case, err)
    assert "Traceback" not in out + err
    assert named in lines[0], (case, named, lines[0])
