"""``phasemix predict``: critical ratio, critical size and learned fraction, with the derivation."""

from __future__ import annotations

import argparse


def _floats(text: str, name: str, count: int | None = None) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from exc
    if count is not None and len(values) != count:
        raise ValueError(f"{name} must have {count} comma-separated numbers, got {text!r}")
    return values


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that define the knowledge set, the web law and capacity (shared with other theory commands)."""
    g = parser.add_argument_group("knowledge set")
    g.add_argument("--facts", default="320k", help="K, number of facts/individuals (default 320k: SynBio-320k)")
    g.add_argument("--bits-per-fact", type=float, default=None,
                   help="h, entropy of one fact in bits (default: exact entropy of --cardinalities)")
    g.add_argument("--cardinalities", default="33600,200,300,100,263",
                   help="attribute cardinalities; h = Σ log2(card) (default SynBio: 33600,200,300,100,263)")
    g.add_argument("--tokens-per-fact", type=float, default=100.0, help="tokens per fact in one copy (default 100)")
    g.add_argument("--occurrences", type=float, default=1.0,
                   help="c, occurrences of each fact's value per copy of the set (default 1; WikiBio 11)")
    m = parser.add_argument_group("model and web law")
    m.add_argument("--bits-per-param", type=float, default=2.0, help="b, capacity bits per parameter (default 2)")
    m.add_argument("--web-law", default="1.769,4.952,0.283",
                   help="E,A,alpha of L(N) = E + A·(N/unit)^-alpha (default: FineWeb-Edu fit on Pythia)")
    m.add_argument("--web-law-unit", default="1M", help="size unit of the web law (default 1M parameters)")
    m.add_argument("--loss-units", choices=("nats", "bits"), default="nats", help="units of the web law's losses")


def knowledge_from_args(args: argparse.Namespace):
    """Build the KnowledgeSet the flags describe (errors name the flag)."""
    from phasemix.theory.capacity import KnowledgeSet, bits_per_fact_from_cardinalities
    from phasemix.units import parse_count

    facts = parse_count(args.facts, name="--facts")
    cards = None
    if args.cardinalities:
        cards = tuple(int(c) for c in _floats(args.cardinalities, "--cardinalities"))
    if args.bits_per_fact is None:
        if cards is None:
            raise ValueError("give --bits-per-fact or --cardinalities")
        return KnowledgeSet(facts, bits_per_fact_from_cardinalities(cards), args.tokens_per_fact,
                            args.occurrences, cards)
    # explicit bits per fact: keep cardinalities only for the chance level when they agree
    if cards is not None:
        h = bits_per_fact_from_cardinalities(cards)
        if abs(h - args.bits_per_fact) > 1e-9 * h:
            cards = None
    return KnowledgeSet(facts, args.bits_per_fact, args.tokens_per_fact, args.occurrences, cards)


def law_from_args(args: argparse.Namespace):
    """Build the web PowerLaw the flags describe."""
    from phasemix.theory.laws import PowerLaw
    from phasemix.units import parse_count

    e, a, alpha = _floats(args.web_law, "--web-law", 3)
    return PowerLaw(E=e, A=a, alpha=alpha, unit=parse_count(args.web_law_unit, name="--web-law-unit"),
                    loss_units=args.loss_units)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict the critical mixing ratio and model size (no training)",
        description="Predict, without training, whether and how much of a knowledge set a model memorizes "
                    "from a data mixture. With no flags: SynBio-320k, a 70M model, r = 0.2.",
    )
    p.add_argument("--params", default="70M", help="N, model parameters, e.g. 70M, 1.4B (default 70M)")
    p.add_argument("--ratio", type=float, default=0.2, help="r, token share of the knowledge set in [0, 1]")
    p.add_argument("--target", type=float, default=0.4,
                   help="learned fraction a for the target ratio/size r_a, N_a (default 0.4)")
    add_model_arguments(p)
    mit = p.add_argument_group("mitigations")
    mit.add_argument("--keep-fraction", type=float, default=1.0,
                     help="ρ, random subsampling: keep this fraction of the facts (accuracy over the full set)")
    mit.add_argument("--ckm-tau", type=float, default=0.0,
                     help="τ, Compact Knowledge Mixing: tuple tokens / original knowledge tokens (0 = off)")
    mit.add_argument("--ckm-token-ratio", type=float, default=None,
                     help="λ, tokens per text occurrence of a fact / tokens per tuple (WikiBio ≈ 150/18)")
    fin = p.add_argument_group("finite training (needs a calibration from `phasemix calibrate`)")
    fin.add_argument("--tokens", default=None, help="D, training tokens, e.g. 32B: predict accuracy after D tokens")
    fin.add_argument("--calibration", default=None, help="calibration JSON written by `phasemix calibrate --out`")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the derivation")
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    from phasemix.theory.predict import predict
    from phasemix.units import parse_count

    calibration = None
    if args.calibration is not None:
        from phasemix.theory.dynamics import Calibration

        calibration = Calibration.from_json(args.calibration)
    if args.tokens is not None and calibration is None:
        raise ValueError("--tokens needs --calibration CAL.json (make one with `phasemix calibrate --data gu2025-70m "
                         "--model all --out CAL.json`)")
    pred = predict(
        params=parse_count(args.params, name="--params"), ratio=args.ratio, knowledge=knowledge_from_args(args),
        law=law_from_args(args), bits_per_param=args.bits_per_param, target=args.target,
        keep_fraction=args.keep_fraction, ckm_tau=args.ckm_tau, ckm_token_ratio=args.ckm_token_ratio,
        tokens=None if args.tokens is None else parse_count(args.tokens, name="--tokens"), calibration=calibration,
    )
    print(pred.to_json() if args.json else pred.derivation())
    return 0
