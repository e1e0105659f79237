"""Charts and tables the pages draw: probabilities, confusion matrices, reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # altair and pandas (0.4 s): imported when a chart is first drawn, not with the page
    import altair as alt
    import pandas as pd
    from matplotlib.figure import Figure

SURE_COLOR = "#16a34a"
DOUBT_COLOR = "#ea8a00"
OTHER_COLOR = "#94a3b8"


def probability_chart(probabilities: Mapping[str, float], chosen: str | None) -> alt.Chart:
    """Horizontal bars of every person's probability, most likely on top."""
    import altair as alt
    import pandas as pd

    frame = pd.DataFrame(
        {"person": list(probabilities), "probability": [float(p) for p in probabilities.values()]}
    )
    best = frame["person"].iloc[0] if len(frame) else None
    frame["answer"] = [
        "answer" if name == chosen else ("best guess" if chosen is None and name == best else "other")
        for name in frame["person"]
    ]
    return (
        alt.Chart(frame)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", title=None)),
            y=alt.Y("person:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160)),
            color=alt.Color(
                "answer:N",
                scale=alt.Scale(
                    domain=["answer", "best guess", "other"], range=[SURE_COLOR, DOUBT_COLOR, OTHER_COLOR]
                ),
                legend=None,
            ),
            tooltip=[alt.Tooltip("person:N"), alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=chart_height(len(frame)))
    )


def distance_chart(distances: Mapping[str, float], limit: float) -> alt.Chart:
    """Horizontal bars of every person's nearest training face distance, nearest on top, with the
    distance within which the model names someone as a line."""
    import altair as alt
    import pandas as pd

    frame = pd.DataFrame({"person": list(distances), "distance": [float(d) for d in distances.values()]})
    frame["answer"] = ["nearest" if i == 0 else "other" for i in range(len(frame))]
    top = max(1.0, float(frame["distance"].max()) if len(frame) else 1.0)
    bars = (
        alt.Chart(frame)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("distance:Q", scale=alt.Scale(domain=[0, top]), axis=alt.Axis(title=None)),
            y=alt.Y("person:N", sort="x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160)),
            color=alt.Color(
                "answer:N",
                scale=alt.Scale(domain=["nearest", "other"], range=[DOUBT_COLOR, OTHER_COLOR]),
                legend=None,
            ),
            tooltip=[alt.Tooltip("person:N"), alt.Tooltip("distance:Q", format=".2f")],
        )
    )
    line = (
        alt.Chart(pd.DataFrame({"limit": [float(limit)]}))
        .mark_rule(color=SURE_COLOR, strokeWidth=2)
        .encode(x="limit:Q", tooltip=[alt.Tooltip("limit:Q", title="named within", format=".2f")])
    )
    return (bars + line).properties(height=chart_height(len(frame)))


def chart_height(bars: int) -> int:
    """Pixels for a bar chart of ``bars`` people, so that every name shows."""
    return 40 + 26 * max(bars, 2)


def confusion_figure(
    matrix: Sequence[Sequence[int]] | np.ndarray, classes: Sequence[str], title: str = ""
) -> Figure:
    """A seaborn heatmap of a confusion matrix, true person down, predicted across."""
    matrix = np.asarray(matrix, dtype=int)
    side = max(3.2, 0.75 * len(classes) + 1.6)
    # Imported here: matplotlib and seaborn cost a second at start-up, and
    # only the Train page draws with them. Figure needs no display.
    import seaborn as sns
    from matplotlib.figure import Figure

    figure = Figure(figsize=(side + 0.8, side), layout="constrained")
    axes = figure.subplots()
    sns.heatmap(
        matrix,
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=False,
        square=True,
        linewidths=0.5,
        xticklabels=[plot_text(name) for name in classes],
        yticklabels=[plot_text(name) for name in classes],
        ax=axes,
    )
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.tick_params(axis="x", labelrotation=35)
    axes.tick_params(axis="y", labelrotation=0)
    for label in axes.get_xticklabels():
        label.set_horizontalalignment("right")
    if title:
        axes.set_title(title)
    return figure


def plot_text(text: str) -> str:
    """Text for a matplotlib label, shown as typed: a pair of ``$`` would start mathtext.

    >>> print(plot_text("Ann $5$"))
    Ann \\$5\\$
    """
    return str(text).replace("$", r"\$")


def report_table(report: Mapping[str, object]) -> pd.DataFrame:
    """scikit-learn's classification report (as a dict) as a table, one row per person."""
    import pandas as pd

    rows = {name: values for name, values in report.items() if isinstance(values, Mapping)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "person"
    if "support" in frame:
        frame["support"] = frame["support"].astype(int)
    return frame.round(3)
