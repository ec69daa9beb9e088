#!/usr/bin/env python3
"""Reference for Nordstern's churn model: trains scikit-learn's LogisticRegression on a
CSV export the way `nordstern_domain::churn::train` does and prints one JSON line with
the fit time, held-out AUC and Brier score, and the coefficients.

Same objective (defaults: L2, C=1, lbfgs, intercept not penalised), same features
(numeric columns standardised with the population standard deviation of the training
rows, missing cells at the training mean; categorical columns one-hot over the non-empty
values seen in training, unknown and empty values all zeros), same label spellings. The
stratified split is scikit-learn's, not Nordstern's, so the metrics agree within noise,
not exactly.

    python3 scripts/churn_sklearn.py history.csv --numeric arr,nps --categorical segment \\
        --label churned --held-out 0.2 --seed 7

`nordstern bench churn` calls it with `--held-out-rows`, the rows Nordstern's own split
held out, so both AUCs are measured on the same accounts.
"""

import argparse
import csv
import json
import sys
import time

CHURNED = {"1", "true", "yes", "churned"}
RENEWED = {"0", "false", "no", "renewed"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv_path")
    parser.add_argument("--numeric", default="", help="comma-separated numeric columns")
    parser.add_argument("--categorical", default="", help="comma-separated categorical columns")
    parser.add_argument("--label", required=True, help="label column")
    parser.add_argument("--held-out", type=float, default=0.2, help="held-out fraction, (0, 0.5]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--delimiter", default=",")
    parser.add_argument(
        "--held-out-rows",
        help="file with the 0-based data-row numbers to hold out, one per line; "
        "overrides --held-out and --seed so both sides evaluate on the same rows",
    )
    args = parser.parse_args()

    try:
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import brier_score_loss, roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
    except ImportError as missing:
        sys.exit(f"churn_sklearn.py needs scikit-learn (pip install scikit-learn): {missing}")

    numeric = [c.strip() for c in args.numeric.split(",") if c.strip()]
    categorical = [c.strip() for c in args.categorical.split(",") if c.strip()]
    if not numeric and not categorical:
        sys.exit("give at least one --numeric or --categorical column")
    if not 0 < args.held_out <= 0.5:
        sys.exit("--held-out must be within (0, 0.5]")

    with open(args.csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=args.delimiter)
        header = [name.strip() for name in next(reader)]
        missing_columns = [c for c in numeric + categorical + [args.label] if c not in header]
        if missing_columns:
            sys.exit(f"no column named {', '.join(missing_columns)} in the header")
        at = {name: i for i, name in enumerate(header)}
        x_numeric, x_categorical, labels = [], [], []
        for line, record in enumerate(reader, start=2):
            if record == [] or record == [""]:
                continue
            label = record[at[args.label]].strip().lower()
            if label not in CHURNED | RENEWED:
                sys.exit(f"line {line}: {record[at[args.label]]!r} is not a label")
            labels.append(1 if label in CHURNED else 0)
            x_numeric.append(
                [float(record[at[c]]) if record[at[c]].strip() else np.nan for c in numeric]
            )
            x_categorical.append([record[at[c]].strip() for c in categorical])

    x = np.empty((len(labels), len(numeric) + len(categorical)), dtype=object)
    if numeric:
        x[:, : len(numeric)] = np.array(x_numeric, dtype=float)
    if categorical:
        x[:, len(numeric) :] = np.array(x_categorical, dtype=object)
    y = np.array(labels)
    if args.held_out_rows:
        with open(args.held_out_rows, encoding="utf-8") as handle:
            held_out = sorted({int(line) for line in handle if line.strip()})
        if not held_out or held_out[-1] >= len(y):
            sys.exit("--held-out-rows names no row or a row past the end of the CSV")
        mask = np.zeros(len(y), dtype=bool)
        mask[held_out] = True
        x_train, x_test, y_train, y_test = x[~mask], x[mask], y[~mask], y[mask]
    else:
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=args.held_out, stratify=y, random_state=args.seed
        )

    numeric_at = list(range(len(numeric)))
    categorical_at = list(range(len(numeric), len(numeric) + len(categorical)))
    # Empty cells are missing: leaving them out of the categories encodes them as zeros.
    categories = [
        sorted({v for v in x_train[:, i] if v != ""}) for i in categorical_at
    ]
    transformers = []
    if numeric:
        # StandardScaler ignores NaN when fitting; filling with 0 afterwards puts a
        # missing value at the training mean without shrinking the standard deviation.
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("scale", StandardScaler()),
                        ("impute", SimpleImputer(strategy="constant", fill_value=0.0)),
                    ]
                ),
                numeric_at,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                OneHotEncoder(categories=categories, handle_unknown="ignore"),
                categorical_at,
            )
        )
    model = Pipeline(
        [
            ("features", ColumnTransformer(transformers, sparse_threshold=0.0)),
            ("logistic", LogisticRegression()),
        ]
    )

    started = time.perf_counter()
    model.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started

    probabilities = model.predict_proba(x_test)[:, 1]
    single_class = len(set(y_test.tolist())) < 2
    logistic = model.named_steps["logistic"]
    names = list(numeric) + [
        f"{column}={value}" for column, values in zip(categorical, categories) for value in values
    ]
    print(
        json.dumps(
            {
                "training_ms": round(fit_seconds * 1000, 3),
                "auc": None if single_class else float(roc_auc_score(y_test, probabilities)),
                "brier_score": float(brier_score_loss(y_test, probabilities)),
                "training_samples": int(len(y_train)),
                "held_out_samples": int(len(y_test)),
                "churned_samples": int(y.sum()),
                "intercept": float(logistic.intercept_[0]),
                "coefficients": dict(zip(names, map(float, logistic.coef_[0]))),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
