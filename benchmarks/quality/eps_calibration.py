"""Is a run's noise prediction too small or too large on real images? The calibration behind ``eval.eps_scale``.

For the test images x0 of the run's data, noised to x_t = a x0 + s eps at each of ``--timesteps``, the network
predicts eps_hat; the least-squares scale ``lambda = <eps_hat, eps> / <eps_hat, eps_hat>`` is the factor that,
multiplied into eps_hat, best matches the true noise. A network that is the exact posterior mean E[eps | x_t]
has lambda = 1 at every t (the residual of a conditional mean is orthogonal to any function of x_t, eps_hat
included). lambda > 1: the prediction is too small, the sampler removes too little noise, and dividing it by an
``eval.eps_scale`` of 1 / lambda < 1 enlarges it; lambda < 1 is Ning et al.'s case (a scale above 1). Each row
also gives the loss-like relative error ``|eps_hat - eps|² / |eps|²``, and ``lambda_guided`` for the network
the run samples with (autoguidance where the run's spec guides, :meth:`zoo.runs.load.LoadedRun.network` with
eps_scale 1).

This sees x_t as training drew it, not as the sampler reaches it: it measures the network's own bias, not
the exposure bias of Ning et al. (which only sampling shows).

    python benchmarks/quality/eps_calibration.py RUN --out benchmarks/results/eps_calibration.json --what "why"

Appends one entry (provenance, the command, the rows) to ``--out``, a JSON list.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from provenance import append_record, provenance  # noqa: E402

TIMESTEPS = "50,100,200,300,400,500,600,700,800,900,950"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("--timesteps", default=TIMESTEPS, help="comma-separated diffusion timesteps")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise drawn for the test images")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--what", default="", help="what the rows answer, for the record")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import torch

    from zoo.data.prepare import prepare
    from zoo.diffusion.guidance import noise_levels
    from zoo.runs.load import load_run

    torch.set_num_threads(args.threads)
    run = load_run(args.run)
    d = run.diffusion
    x0 = torch.from_numpy(prepare(run.spec.data).images("test").astype("float32") / 127.5 - 1)
    if run.spec.model.channels != x0.shape[1]:
        sys.exit(f"the run's network takes {run.spec.model.channels} channels, its test images have {x0.shape[1]}")
    plain, sampled = run.network(1, 1), run.network(None, 1)
    sigmas = noise_levels(d.alphas_cumprod.double())
    record = {**provenance(), "what": args.what, "command": " ".join(sys.argv), "run": args.run, "run_step": run.step,
              "images": len(x0), "rows": []}
    generator = torch.Generator().manual_seed(args.seed)
    with torch.inference_mode():
        for step in map(int, args.timesteps.split(",")):
            t = torch.full((len(x0),), step, dtype=torch.long)
            eps = torch.randn(x0.shape, generator=generator)
            x_t = d.q_sample(x0, t, eps)
            row = {"t": step, "sigma": round(float(sigmas[step]), 4)}
            for name, network in (("", plain), ("_guided", sampled)):
                if name and network is plain:
                    continue
                eps_hat = torch.cat([d.split(network(x, s).float(), x, s)[0] for x, s in zip(x_t.split(250), t.split(250))])
                row[f"lambda{name}"] = round(float((eps_hat * eps).sum() / (eps_hat * eps_hat).sum()), 4)
                row[f"rel_error{name}"] = round(float(((eps_hat - eps) ** 2).sum() / (eps**2).sum()), 4)
            print(json.dumps(row), flush=True)
            record["rows"].append(row)
    append_record(args.out, record)


if __name__ == "__main__":
    main()
