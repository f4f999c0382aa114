"""``cktgen-eda dataset …``: build, inspect, import and export benchmark datasets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from . import cli
from .options import cluster_option, force_option, renamed, workers_option


@cli.group("dataset")
def dataset() -> None:
    """Build, inspect, import and export OCB-style benchmark datasets.

    Shipped: ocb101 (10,000 circuits) and ocb301 (50,000), regenerated with the OCB
    generator and labelled by ngspice (docs/datasets.md).

    \b
    Examples:
      cktgen-eda dataset info ocb101
      cktgen-eda dataset build --recipe ocb101 -n 500 -o small.npz
      cktgen-eda dataset export-ocb ocb101 --pkl ckt_bench_101.pkl --csv perform101.csv
    """


def _labels(source: str):
    """(name, Labels, manifest) of a benchmark name/path or an OCB perform CSV."""
    from ..data.stats import Labels

    if source.endswith(".csv"):
        return Path(source).name, Labels.from_csv(source), None
    from ..data.store import load_benchmark

    bench = load_benchmark(source)
    return bench.name, Labels.of(bench), bench.manifest


@dataset.command("build")
@click.option(
    "--recipe",
    "recipe_name",
    default="ocb101",
    show_default=True,
    help="Recipe from recipes.toml (ocb101, ocb301).",
)
@click.option(
    "-n",
    "--n",
    "--circuits",
    "circuits",
    type=click.IntRange(1),
    help="Circuits (split scaled to match).",
)
@click.option("--seed", type=int, help="Seed [default: the recipe's].")
@workers_option
@cluster_option
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file [default: RECIPE.npz].",
)
@renamed("--out", "--output", "out", type=click.Path(dir_okay=False, path_type=Path))
@force_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def dataset_build(
    recipe_name: str,
    circuits: int | None,
    seed: int | None,
    workers: int | None,
    cluster: str | None,
    out: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Generate a benchmark from a recipe and label every circuit with ngspice.

    Same recipe, size and seed give a bit-identical file (the shipped ocb101/ocb301 are
    rebuilt this way), with or without --cluster. ocb101 takes ≈ 30 s and ocb301 ≈ 2.5 min
    on 2 cores.

    \b
    Example:
      cktgen-eda dataset build --recipe ocb101 -o ocb101.npz
    """
    from ..data.build import build_benchmark
    from ..data.recipes import get_recipe
    from ..data.stats import Labels, format_summary, summarize
    from ..data.store import write_benchmark
    from ..fileio import check_output
    from ..netlist.cluster import use_cluster

    recipe = get_recipe(recipe_name).with_counts(circuits, seed)
    out = check_output(out or Path(f"{recipe.name}.npz"), force)  # before the long build
    t0 = time.perf_counter()
    with use_cluster(cluster):
        bench = build_benchmark(recipe, workers=workers, progress=True)
    write_benchmark(bench, out, force=force)
    summary = summarize(Labels.of(bench))
    if as_json:
        click.echo(
            json.dumps({"file": str(out), "manifest": bench.manifest, "summary": summary}, indent=2)
        )
    else:
        click.echo(format_summary(bench.name, summary, bench.manifest))
    click.echo(f"wrote {out} in {time.perf_counter() - t0:.0f} s", err=True)


@dataset.command("info")
@click.argument("source", required=False)
@click.option(
    "--compare",
    "ref",
    metavar="REF",
    help="Also compare class shares with another dataset or an OCB perform CSV.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def dataset_info(source: str | None, ref: str | None, as_json: bool) -> None:
    """Counts, quantiles, class shares, joint classes and stability shares of a dataset.

    SOURCE is a shipped name (ocb101, ocb301), a .npz benchmark file, or an original OCB
    perform CSV. Without SOURCE, lists the shipped datasets. Stability shares (stable open
    loop, stable at unity gain, both, working: both and gain > 0 dB) are over all rows;
    OCB CSVs and imported OCB files have none.

    \b
    Examples:
      cktgen-eda dataset info ocb101 --compare ../shared/data/perform101.csv
      cktgen-eda dataset info perform301.csv --json
    """
    from ..data.stats import compare, format_summary, summarize

    if source is None:
        from ..data.store import read_benchmark, shipped_benchmarks

        shipped = {
            k: read_benchmark(p, check=False).manifest
            for k, p in sorted(shipped_benchmarks().items())
        }
        if as_json:
            click.echo(json.dumps(shipped, indent=2))
        for name, m in shipped.items() if not as_json else ():
            c = m["counts"]
            click.echo(
                f"{name}: {c['circuits']:,} circuits ({c['train']:,}/{c['test']:,}), "
                f"{c['valid']:,} valid — {m.get('recipe', {}).get('description', '')}"
            )
        return
    name, labels, manifest = _labels(source)
    summary = summarize(labels)
    result = {"source": source, "manifest": manifest, "summary": summary}
    if ref:
        ref_name, ref_labels, _ = _labels(ref)
        result["reference"] = {"source": ref, "summary": summarize(ref_labels)}
        result["comparison"] = compare(summary, result["reference"]["summary"])
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(format_summary(name, summary, manifest))
    if ref:
        cmp = result["comparison"]
        click.echo(
            f"\nvs {ref_name}: largest class-share gap "
            + ", ".join(
                f"{k} {g['max_pp']:.1f} pp (class {g['class']})"
                for k, g in cmp["class_share_gap"].items()
            )
            + f"; train joint classes {summary['joint_classes']['train']} vs "
            f"{result['reference']['summary']['joint_classes']['train']} "
            f"({100 * (cmp['joint_train_ratio'] - 1):+.1f} %)"
        )


@dataset.command("import-ocb")
@click.argument("pkl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument(
    "csv_file", metavar="CSV", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Benchmark file to write (.npz).  [required]",
)
@renamed("--out", "--output", "out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Dataset name stored in the manifest [default: from PKL].")
@force_option
def dataset_import_ocb(
    pkl: Path, csv_file: Path, out: Path | None, name: str | None, force: bool
) -> None:
    """Convert original OCB files (graph pickle + perform CSV) to a benchmark file.

    Reads ckt_bench_101(_igraph).pkl or ckt_bench_301(_igraph).pkl with the matching
    perform101.csv / perform301.csv (rows aligned by position). Needs the optional igraph
    extra: pip install 'cktgen-eda[ocb]'. The pickle is read by a restricted unpickler that
    builds igraph graphs, numpy values and plain containers only: a pickle that asks for
    anything else is refused before any object is built.

    \b
    Example:
      cktgen-eda dataset import-ocb ckt_bench_101_igraph.pkl perform101.csv -o orig101.npz
    """
    from ..data.ocb import read_ocb
    from ..data.store import write_benchmark
    from ..fileio import check_output

    if out is None:
        raise click.UsageError("Missing option '-o' / '--output'.")
    check_output(out, force)
    bench = read_ocb(pkl, csv_file, name=name)
    write_benchmark(bench, out, force=force)
    c = bench.counts()
    click.echo(
        f"wrote {out}: {c['circuits']:,} circuits ({c['train']:,} train / "
        f"{c['test']:,} test), {c['valid']:,} valid",
        err=True,
    )


@dataset.command("export-ocb")
@click.argument("source")
@click.option(
    "--pkl",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Graph pickle to write (list of (g_subg, g_dev) igraph pairs).",
)
@click.option(
    "--csv",
    "csv_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Perform CSV to write.",
)
@click.option(
    "--layout",
    type=click.Choice(["tuple", "flat"]),
    default="tuple",
    show_default=True,
    help="(train, test) tuple as in OCB-101, or one flat list as in OCB-301.",
)
@force_option
def dataset_export_ocb(source: str, pkl: Path, csv_file: Path, layout: str, force: bool) -> None:
    """Write a dataset in the original OCB pickle + CSV layout, for other OCB code.

    SOURCE is a shipped name (ocb101, ocb301) or a .npz benchmark file. Needs igraph.

    \b
    Example:
      cktgen-eda dataset export-ocb ocb101 --pkl ckt_bench_101.pkl --csv perform101.csv
    """
    from ..data.ocb import write_ocb
    from ..data.store import load_benchmark

    bench = load_benchmark(source)
    write_ocb(bench, pkl, csv_file, force=force, layout=layout)
    click.echo(f"wrote {pkl} and {csv_file} ({len(bench):,} circuits)", err=True)
