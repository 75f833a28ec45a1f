"""Training and inference maps/s of the 3D CNNs: fp32 (before) against the run-time choice.

For each model (the paper's 12-layer CNN on 32^3 SDMs, the compact SDM CNN and the on-lattice
type-map CNN of the DFT study) and each variant, one line:

* ``train``: maps/s of a full training step on a batch of B hops: the SDMs of Eq. 1 from the hop
  environments (`vmeb.learn.sdm.encode_sdm`; the type-map CNN scatters one-hot sites instead),
  forward, MAE loss, backward and an RMSprop step;
* ``infer``: maps/s of the forward pass alone (eval mode, no gradients, maps already made).

Variants: ``fp32`` (contiguous tensors, the code before this benchmark), ``fp32+cl``
(channels-last 3D), ``bf16+cl`` (bf16 autocast and channels-last), and for the SDM CNNs
``folded`` (inference only: `vmeb.learn.lattice.inference_network`, batch norms folded into the
convolutions, channels-last; what the on-lattice prediction path runs). The line ``auto picks``
says what ``precision="auto"`` (`vmeb.learn.precision`) uses on this machine; bf16 is only
fast with native bf16 units (AMX / AVX512-BF16, CUDA), and emulated (slower) elsewhere.
Untrained weights (timing does not depend on them).

``--compile`` adds, for the precision ``auto`` picks, the same two rates with the model (train)
and the prediction network (infer: the folded network of an SDM CNN, `inference_network`)
wrapped in ``torch.compile`` (inductor, fixed shapes), each beside its eager rate measured right
before it, with the compile time (first call) and the largest |compiled - eager| output. Usage::

    python benchmarks/bench_training.py [--threads 2] [--device cpu] [--quick] [--compile]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_inference import rate, sample_environments  # beside this script

from vmeb.learn.descriptors import site_template
from vmeb.learn.lattice import inference_network
from vmeb.learn.models import build_model
from vmeb.learn.precision import autocast, channels_last, native_bf16, resolve_precision
from vmeb.learn.sdm import encode_sdm
from vmeb.learn.settings import TrainConfig

SPECIES = ("Ta", "Nb", "Mo")  # as in bench_inference.py, whose sample this uses
A = 3.30

#: name -> (config, batch size on CPU, on CUDA)
MODELS = {
    "paper 12-layer (32^3, 60 filters)": (TrainConfig(kind="cnn", depth=3, filters=60), 4, 64),
    "compact SDM CNN (8^3, 12 filters)": (
        TrainConfig(kind="cnn", depth=1, filters=12, l_c=6.0, delta=1.5),
        64,
        1024,
    ),
    "type-map CNN (9^3, 8 filters, dft_latcnn)": (
        TrainConfig(kind="latcnn", filters=8, hidden=(64,), dropout=0.1, linear=True),
        64,
        1024,
    ),
}
VARIANTS = (("fp32", False), ("fp32+cl", True), ("bf16+cl", True))
#: The type-map CNN builds its grid inside the model from [B, S * C] descriptors: no 5-D input.
SITE_VARIANTS = (("fp32", False), ("bf16", False))


def _environments(hops: int, r_c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, M, 3] positions (Å) and [B, M] species of hops in a random Ta-Nb-Mo BCC alloy."""
    env = sample_environments(hops, r_c)
    return torch.as_tensor(env.positions), torch.as_tensor(env.species)


def _model(config: TrainConfig, device: str) -> torch.nn.Module:
    if config.kind == "latcnn":
        template = site_template(config.r_c / A)
        model = build_model(config.model_config(), len(SPECIES), template.n_sites, template)
    else:
        model = build_model(config.model_config(), len(SPECIES), config.sdm_config().grid_size)
    return model.to(device)


def _inputs(config: TrainConfig, batch: int, device: str, rng: np.random.Generator):
    """A function making one batch of model inputs (maps or descriptors) on ``device``."""
    if config.kind == "latcnn":
        n_sites = site_template(config.r_c / A).n_sites
        occ = torch.as_tensor(rng.integers(0, len(SPECIES), (batch, n_sites)))

        def make() -> torch.Tensor:
            x = torch.nn.functional.one_hot(occ, len(SPECIES)).to(torch.float32)
            return x.reshape(batch, -1).to(device)

        return make
    positions, species = _environments(batch, config.r_c)
    positions, species = positions.to(device), species.to(device)
    sdm = config.sdm_config()
    return lambda: encode_sdm(positions, species, len(SPECIES), sdm)


def _train_step(model, make, targets, kind: str, precision: str, device: str):
    """One training step (inputs from ``make``, forward, MAE loss, backward, RMSprop) as a
    function of no arguments."""
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-4)

    def step() -> None:
        x = make()  # outside the autocast, as in `train_model`
        with autocast(kind, precision, device):
            out = model(x)
        loss = torch.nn.functional.l1_loss(out.float().reshape(-1), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _variant(config, make, targets, device, repeats, precision, last) -> tuple[float, float]:
    """Train and infer maps/s of one model under one precision and memory format."""
    torch.manual_seed(0)
    model = _model(config, device)
    if last and config.kind != "latcnn":
        model = model.to(memory_format=torch.channels_last_3d)

    def prepare() -> torch.Tensor:
        x = make()
        return channels_last(x) if last else x

    train_step = _train_step(model, prepare, targets, config.kind, precision, device)
    fixed = prepare()

    @torch.no_grad()
    def infer_step() -> None:
        with autocast(config.kind, precision, device):
            model(fixed)

    batch = len(targets)
    model.train()
    train = rate(train_step, batch, device, repeats)
    model.eval()
    return train, rate(infer_step, batch, device, repeats)


def bench(name: str, config: TrainConfig, batch: int, device: str, repeats: int) -> None:
    """Print the train and infer rates of one model under every variant."""
    make = _inputs(config, batch, device, np.random.default_rng(0))
    targets = torch.rand(batch, device=device)
    threads = torch.get_num_threads() if device == "cpu" else "-"
    for label, last in SITE_VARIANTS if config.kind == "latcnn" else VARIANTS:
        precision = "bf16" if label.startswith("bf16") else "fp32"
        if (
            precision == "bf16"
            and not native_bf16(device)
            and config.kind == "cnn"
            and config.depth > 1
        ):
            print(f"{name:42s} {label:8s} {device}: skipped (bf16 emulated on this device: "
                  "minutes per step for a deep CNN)", flush=True)  # fmt: skip
            continue
        train, infer = _variant(config, make, targets, device, repeats, precision, last)
        print(
            f"{name:42s} {label:8s} {device} threads={threads} batch={batch}: "
            f"train {train:9.1f} maps/s, infer {infer:9.1f} maps/s",
            flush=True,
        )
    if config.kind == "cnn":  # the lattice path's network: batch norms folded, channels-last
        torch.manual_seed(0)
        folded = inference_network(_model(config, device).eval())
        fixed = make()
        with torch.no_grad():
            infer = rate(lambda: folded(fixed), batch, device, repeats)
        print(
            f"{name:42s} {'folded':8s} {device} threads={threads} batch={batch}: "
            f"train         - maps/s, infer {infer:9.1f} maps/s",
            flush=True,
        )


def _compiled_pair(fn_eager, fn_compiled, batch, device, repeats) -> tuple[float, float, float]:
    """(eager rate, compiled rate, compile seconds): the first compiled call is timed apart."""
    eager = rate(fn_eager, batch, device, repeats)
    start = time.perf_counter()
    fn_compiled()
    first = time.perf_counter() - start
    return eager, rate(fn_compiled, batch, device, repeats), first


def bench_compile(name: str, config: TrainConfig, batch: int, device: str, repeats: int) -> None:
    """Print eager against ``torch.compile`` rates (train step, prediction forward)."""
    precision = resolve_precision("auto", device)
    make = _inputs(config, batch, device, np.random.default_rng(0))
    targets = torch.rand(batch, device=device)
    last = precision == "bf16" and config.kind != "latcnn"
    x = channels_last(make()) if last else make()

    def trainer(model):
        return _train_step(model, lambda: x, targets, config.kind, precision, device)

    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        m = _model(config, device)
        return m.to(memory_format=torch.channels_last_3d) if last else m

    eager_model, compiled_model = model().train(), model().train()
    train = _compiled_pair(
        trainer(eager_model),
        trainer(torch.compile(compiled_model, dynamic=False)),
        batch,
        device,
        repeats,
    )
    network = inference_network(model().eval())
    compiled = torch.compile(network, dynamic=False)

    @torch.no_grad()
    def forward(net) -> torch.Tensor:
        with autocast(config.kind, precision, device, inference=True):
            return net(x).float()

    infer = _compiled_pair(lambda: forward(network), lambda: forward(compiled), batch, device,
                           repeats)  # fmt: skip
    diff = float((forward(compiled) - forward(network)).abs().max())
    threads = torch.get_num_threads() if device == "cpu" else "-"
    for label, (eager, comp, first) in (("train", train), ("infer", infer)):
        print(
            f"{name:42s} {precision:5s} {device} threads={threads} batch={batch} {label}: "
            f"eager {eager:9.1f}, compiled {comp:9.1f} maps/s ({comp / eager:.2f}x; "
            f"compile {first:.0f} s)",
            flush=True,
        )
    print(f"{name:42s} compiled prediction - eager: max |diff| {diff:.1e} (raw units)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one timed repeat")
    parser.add_argument("--models", nargs="*", help="substrings of model names to run")
    parser.add_argument(
        "--compile", action="store_true", help="eager against torch.compile (auto precision)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else 3
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(
        f"native bf16 on {args.device}: {native_bf16(args.device)}; "
        f"auto picks {resolve_precision('auto', args.device)}"
    )
    for name, (config, cpu_batch, gpu_batch) in MODELS.items():
        if args.models and not any(m in name for m in args.models):
            continue
        batch = cpu_batch if args.device == "cpu" else gpu_batch
        if args.compile:
            bench_compile(name, config, batch, args.device, repeats)
        else:
            bench(name, config, batch, args.device, repeats)


if __name__ == "__main__":
    main()
