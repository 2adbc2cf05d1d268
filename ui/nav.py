"""The pages of the app, in navigation order, with the one-line blurb the Home page shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str  # file under pages/
    title: str
    icon: str  # Streamlit material icon
    section: str  # navigation group
    blurb: str  # what the user finds there, for the Home page
    url_path: str  # the page's own URL, e.g. /runs


# The default page lives at the site root, so its URL path is empty.
HOME = PageSpec(
    "pages/home.py", "Home", ":material/home:", "Glassbox", "What this is and where to go.", ""
)

# A page is listed here once it works: there are no placeholder pages.
PAGES: tuple[PageSpec, ...] = (
    PageSpec(
        "pages/tokenization.py",
        "Tokenization",
        ":material/token:",
        "Language model",
        "See text become tokens in GPT-2/GPT-4/GPT-4o, compare encodings character by "
        "character, and train a BPE tokenizer merge by merge.",
        "tokenization",
    ),
    PageSpec(
        "pages/sampling.py",
        "Sampling",
        ":material/casino:",
        "Language model",
        "Watch the GPT pick each token: every candidate, what temperature, top-k and top-p "
        "cut, branch from any step, compare settings, replay saved runs.",
        "sampling",
    ),
    PageSpec(
        "pages/attention.py",
        "Attention maps",
        ":material/grid_view:",
        "Language model",
        "Every layer and head at once, head types labelled for you (previous-token, sink, "
        "induction), several tokens combined, two texts compared, one head's maths.",
        "attention",
    ),
    PageSpec(
        "pages/embeddings.py",
        "Embedding spaces",
        ":material/scatter_plot:",
        "Language model",
        "Project the token table to 2-D/3-D (PCA, t-SNE), find nearest neighbours, try "
        "a − b + c, see how position is encoded and follow a sentence through the layers.",
        "embeddings",
    ),
    PageSpec(
        "pages/math.py",
        "LLM math",
        ":material/functions:",
        "Language model",
        "x·W three ways, the feed-forward as rank-1 units, tensor parallelism and "
        "quantization on real weights; parameter, FLOP, KV-cache and switch-time calculators.",
        "math",
    ),
    PageSpec(
        "pages/training.py",
        "Training",
        ":material/model_training:",
        "Language model",
        "Train a small GPT on a built-in corpus or your own text and watch the loss fall "
        "and the samples turn into text; jobs run on the server and survive a closed tab.",
        "training",
    ),
    PageSpec(
        "pages/pool.py",
        "GPU pool",
        ":material/dns:",
        "Serving",
        "Many LLMs sharing a few GPUs (Aegaeon, SOSP'25): watch a live schedule, compare "
        "policies, sweep the load to find each policy's goodput.",
        "pool",
    ),
    PageSpec(
        "pages/runs.py",
        "Saved runs",
        ":material/compare_arrows:",
        "Experiments",
        "Every experiment you saved: filter, tag, compare configs, metrics and curves "
        "side by side, export and import.",
        "runs",
    ),
)


def sections() -> dict[str, list[PageSpec]]:
    """Pages grouped by section, in order, Home first."""
    out: dict[str, list[PageSpec]] = {HOME.section: [HOME]}
    for spec in PAGES:
        out.setdefault(spec.section, []).append(spec)
    return out
