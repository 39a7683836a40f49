"""Projections and measurements of ``train.py inspect``: PCA, t-SNE and separations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.inspect_states import VALUE_NAMES, InspectError, InspectOptions, StateSet


@dataclass
class Projection:
    """2-D points of each method and the settings that produced them."""

    pca: np.ndarray
    tsne: np.ndarray | None
    settings: dict[str, Any]


def project(activations: np.ndarray, options: InspectOptions) -> Projection:
    """Project activations to 2-D with PCA and, unless switched off, t-SNE.

    Raises:
        InspectError: If there are too few states for two components or for the perplexity.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    num_states = len(activations)
    if num_states < 3:
        raise InspectError(f"need at least 3 states to project, got {num_states}")
    pca = PCA(n_components=2, svd_solver="full")
    pca_points = pca.fit_transform(activations)
    settings: dict[str, Any] = {
        "pca_explained_variance_ratio": [float(r) for r in pca.explained_variance_ratio_],
        "tsne": None,
    }
    tsne_points = None
    if options.tsne:
        if options.perplexity >= num_states:
            raise InspectError(
                f"--perplexity {options.perplexity:g} must be below the number of states "
                f"({num_states}); lower it, raise --max-states or --episodes, or pass --no-tsne"
            )
        tsne = TSNE(
            n_components=2,
            perplexity=options.perplexity,
            init="pca",
            learning_rate="auto",
            random_state=options.seed,
        )
        tsne_points = tsne.fit_transform(activations)
        settings["tsne"] = {
            "perplexity": options.perplexity,
            "seed": options.seed,
            "init": "pca",
            "learning_rate": "auto",
            "max_iter": int(tsne.max_iter),
            "kl_divergence": float(tsne.kl_divergence_),
        }
    return Projection(pca_points, tsne_points, settings)


def tictactoe_separation(
    states: StateSet, activations: np.ndarray, projection: Projection, seed: int
) -> dict[str, Any]:
    """Measure how well the minimax values separate, in 2-D and in all hidden units.

    Nearest-centroid accuracy is measured on the same points that the centroids are
    fitted to, and so is the neighbour agreement of :func:`neighbour_agreement`. The linear probe (a ridge classifier on standardised inputs) is scored by
    stratified 5-fold cross-validation. The majority-class share is the accuracy of
    always predicting the most common value.
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import NearestCentroid
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = states.columns["value"]
    counts = np.unique(labels, return_counts=True)[1]
    result: dict[str, Any] = {"value_majority_share": float(counts.max() / len(labels))}
    result["mean_max_q_by_value"] = {
        name: float(states.columns["max_q"][labels == name].mean())
        for name in VALUE_NAMES.values()
        if np.any(labels == name)
    }
    points = {"pca": projection.pca}
    if projection.tsne is not None:
        points["tsne"] = projection.tsne
    if len(counts) < 2:
        return result
    for name, xy in points.items():
        centroids = NearestCentroid().fit(xy, labels)
        result[f"nearest_centroid_accuracy_{name}"] = float(centroids.score(xy, labels))
        result[f"neighbour_agreement_{name}"] = neighbour_agreement(xy, labels)
    # Stratified 5-fold cross-validation needs at least five states of each value.
    if counts.min() >= 5:
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        probe = make_pipeline(StandardScaler(), RidgeClassifier())
        for name, inputs in (("pca", projection.pca), ("hidden", activations)):
            scores = cross_val_score(probe, inputs, labels, cv=folds)
            result[f"linear_probe_cv_accuracy_{name}"] = float(scores.mean())
    return result


def neighbour_agreement(points: np.ndarray, labels: np.ndarray, num_neighbours: int = 10) -> float:
    """Return the share of points whose nearest neighbours' most common label is their own.

    Each point's ``num_neighbours`` nearest other points (Euclidean, in ``points``) vote,
    and ties go to the label that sorts first. The measure is local: it rewards clusters
    of one label even where the clusters of a label lie far apart.
    """
    from sklearn.neighbors import NearestNeighbors

    num_neighbours = min(num_neighbours, len(points) - 1)
    search = NearestNeighbors(n_neighbors=num_neighbours).fit(points)
    # Without query points, kneighbors leaves each point out of its own neighbours.
    indices = search.kneighbors(return_distance=False)  # (N, neighbours)
    names, codes = np.unique(labels, return_inverse=True)
    votes = np.zeros((len(points), len(names)), dtype=np.int64)
    np.add.at(votes, (np.arange(len(points))[:, None], codes[indices]), 1)
    return float(np.mean(votes.argmax(axis=1) == codes))


def snake_relations(states: StateSet, projection: Projection) -> dict[str, Any]:
    """Relate the projection to the predicted value, the score and the states before death."""
    max_q = states.columns["max_q"]
    near_death = states.columns["death_within_k"] == "yes"
    result: dict[str, Any] = {
        "mean_max_q": float(max_q.mean()),
        "mean_max_q_near_death": float(max_q[near_death].mean()) if near_death.any() else None,
        "mean_max_q_other": float(max_q[~near_death].mean()) if (~near_death).any() else None,
    }
    for label in ("max_q", "score"):
        for component in range(2):
            correlation = pearson(projection.pca[:, component], states.columns[label])
            result[f"pca{component + 1}_{label}_correlation"] = correlation
    if states.feature_names is not None:
        for component in range(2):
            result[f"pca{component + 1}_top_features"] = top_feature_correlations(
                projection.pca[:, component], states.observations, states.feature_names
            )
    return result


def top_feature_correlations(
    component: np.ndarray, observations: np.ndarray, names: tuple[str, ...], count: int = 3
) -> dict[str, float]:
    """Return the ``count`` observation features most correlated with a component.

    Features are ranked by the absolute Pearson correlation; constant features are skipped.
    """
    correlations = {}
    for index, name in enumerate(names):
        correlation = pearson(component, observations[:, index])
        if correlation is not None:
            correlations[name] = correlation
    ranked = sorted(correlations.items(), key=lambda item: abs(item[1]), reverse=True)
    return dict(ranked[:count])


def pearson(first: np.ndarray, second: np.ndarray) -> float | None:
    """Return the Pearson correlation of two arrays, or None if either is constant."""
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.std() == 0 or second.std() == 0:
        return None
    return float(np.corrcoef(first, second)[0, 1])
