"""Starter kit for the qa competition: a small span model trained from scratch in the run.

The model reads the paragraph as word embeddings plus one "this word is in the question"
flag per word (DrQA's exact-match feature), convolves over it, attends to a convolutional
encoding of the question, and scores each word as the answer's start and end. It
trains on /data/train/train.csv (90%; the other 10% is held out to pick the best
checkpoint, saved to /tmp) and writes /output/predictions.csv (id, answer).

Budget: training stops when TRAIN_SHARE of PODIUM_TIME_LIMIT_SECONDS has passed (the rest
covers reading, prediction and a margin); the batch size is capped from
PODIUM_MEMORY_LIMIT_BYTES; torch uses PODIUM_CPUS threads. It uses a GPU when
PODIUM_GPUS > 0 and CUDA is visible, else the CPU. Every line it prints is a progress line.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import regex
import torch
from torch import nn

DATA = Path(os.environ.get("PODIUM_DATA_DIR", "/data"))
OUTPUT = Path(os.environ.get("PODIUM_OUTPUT_DIR", "/output"))
# The run's /tmp is its own scratch space (the sandbox gives each run a private one).
CHECKPOINT = Path(os.environ.get("QA_CHECKPOINT", "/tmp/qa-checkpoint.pt"))  # noqa: S108
TRAIN_SHARE = float(os.environ.get("QA_TRAIN_SHARE", "0.5"))
MAX_EPOCHS = int(os.environ.get("QA_MAX_EPOCHS", "30"))
MAX_ANSWER_WORDS = 4
BLANK = "____"
SEED = 7
TOKEN = regex.compile(r"\w+|[^\w\s]", regex.UNICODE)
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(lower-cased word, start, end) character spans."""
    return [(m.group().lower(), m.start(), m.end()) for m in TOKEN.finditer(text)]


# Per paragraph word: in the question; log count in the paragraph; out of vocabulary;
# quoted; a number; capitalised; and four flags for "a neighbour of this word is the
# question's word next to the blank" (left 1, left 2, right 1, right 2 words away).
FEATURES = 10


def word_features(q: list[str], c: list[str], vocab: dict[str, int]) -> np.ndarray:
    """(len(c), FEATURES) float32: the features of each paragraph word of one pair."""
    qwords = set(q)
    counts = Counter(c)
    b = q.index(BLANK) if BLANK in q else -1
    near = {k: q[b + k] if b >= 0 and 0 <= b + k < len(q) else None for k in (-2, -1, 1, 2)}
    out = []
    for i, w in enumerate(c):
        left1 = c[i - 1] if i >= 1 else None
        left2 = c[i - 2] if i >= 2 else None
        right1 = c[i + 1] if i + 1 < len(c) else None
        right2 = c[i + 2] if i + 2 < len(c) else None
        out.append(
            [
                float(w in qwords),
                math.log1p(counts[w]) / 3,
                float(w not in vocab),
                float(left1 == '"' and right1 == '"'),
                float(w.isdigit()),
                float(len(w) >= 4 and w.isalpha()),
                float(near[-1] is not None and left1 == near[-1]),
                float(near[-2] is not None and left2 == near[-2]),
                float(near[1] is not None and right1 == near[1]),
                float(near[2] is not None and right2 == near[2]),
            ]
        )
    return np.asarray(out, dtype=np.float32).reshape(len(c), FEATURES)


class Encoded:
    """Integer tensors for a batch of (question, paragraph) pairs, padded."""

    def __init__(self, rows: list[dict], vocab: dict[str, int], device: torch.device) -> None:
        lq = max(len(r["q"]) for r in rows)
        lc = max(len(r["c"]) for r in rows)
        self.q = torch.zeros(len(rows), lq, dtype=torch.long)
        self.c = torch.zeros(len(rows), lc, dtype=torch.long)
        self.features = torch.zeros(len(rows), lc, FEATURES)
        self.blank = torch.zeros(len(rows), dtype=torch.long)
        for i, r in enumerate(rows):
            q = [w for w, _, _ in r["q"]]
            c = [w for w, _, _ in r["c"]]
            self.q[i, : len(q)] = torch.tensor([vocab.get(w, 1) for w in q])
            self.c[i, : len(c)] = torch.tensor([vocab.get(w, 1) for w in c])
            f = r["f"] if "f" in r else word_features(q, c, vocab)
            self.features[i, : len(c)] = torch.from_numpy(f)
            self.blank[i] = q.index(BLANK) if BLANK in q else 0
        self.q, self.c = self.q.to(device), self.c.to(device)
        self.features, self.blank = self.features.to(device), self.blank.to(device)


class SpanModel(nn.Module):
    """Convolutions, not recurrent layers: Debian's CPU build of PyTorch runs a GRU about
    twenty times slower than a convolution of the same width, and a run is time-boxed.

    The question's encoding at its blank is the query (the Attentive Reader's idea): each
    paragraph word is scored by its encoding times the query, next to attention over the
    whole question and the word features."""

    def __init__(self, vocab_size: int, dim: int = 64, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.q_conv = nn.Sequential(
            nn.Conv1d(dim, hidden, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, kernel_size=5, padding=2),
        )
        self.c_conv = nn.Conv1d(dim + FEATURES, hidden, kernel_size=3, padding=1)
        self.mix = nn.Sequential(
            nn.Conv1d(3 * hidden + FEATURES, hidden, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, kernel_size=3, padding=1),
            nn.ReLU(),
        )
        self.start = nn.Conv1d(hidden, 1, kernel_size=3, padding=1)
        self.end = nn.Conv1d(hidden, 1, kernel_size=3, padding=1)
        self.drop = nn.Dropout(0.3)  # 0.1 overfitted 2,000 questions by epoch 3

    def forward(self, batch: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        # Shapes: q (B, Lq, H), c (B, Lc, H); convolutions take (B, channels, length).
        q = torch.relu(self.q_conv(self.drop(self.embed(batch.q)).transpose(1, 2))).transpose(1, 2)
        words = torch.cat([self.drop(self.embed(batch.c)), batch.features], dim=-1)
        c = torch.relu(self.c_conv(words.transpose(1, 2))).transpose(1, 2)
        # Each paragraph word attends to the question's words.
        scores = torch.bmm(c, q.transpose(1, 2)).masked_fill((batch.q == 0)[:, None, :], -1e9)
        attended = torch.bmm(torch.softmax(scores, dim=-1), q)
        query = q[torch.arange(q.shape[0], device=q.device), batch.blank]  # (B, H)
        h = torch.cat([c, attended, c * query[:, None, :], batch.features], dim=-1)
        h = self.drop(self.mix(h.transpose(1, 2)))
        pad = batch.c == 0
        return (
            self.start(h).squeeze(1).masked_fill(pad, -1e9),
            self.end(h).squeeze(1).masked_fill(pad, -1e9),
        )


def best_spans(start: torch.Tensor, end: torch.Tensor) -> list[tuple[int, int]]:
    """The (first, last) word of the best span of at most MAX_ANSWER_WORDS words, per row."""
    s = torch.log_softmax(start, dim=-1)
    e = torch.log_softmax(end, dim=-1)
    joint = s[:, :, None] + e[:, None, :]
    n = start.shape[1]
    allowed = torch.triu(torch.ones(n, n, dtype=torch.bool, device=start.device))
    allowed &= ~torch.triu(
        torch.ones(n, n, dtype=torch.bool, device=start.device), diagonal=MAX_ANSWER_WORDS
    )
    flat = joint.masked_fill(~allowed, -1e9).flatten(1).argmax(dim=1).tolist()
    return [(i // n, i % n) for i in flat]


def normalize(text: str) -> list[str]:
    """The SQuAD v1.1 normalisation, as the platform scores answers."""
    text = "".join(ch for ch in text.lower() if ch not in set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))
    return regex.sub(r"\b(a|an|the)\b", " ", text).split()


def f1(pred: str, gold: str) -> float:
    p, g = normalize(pred), normalize(gold)
    if not p or not g:
        return float(p == g)
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    return 2 * same / (len(p) + len(g))


def prepare(frame: pd.DataFrame, with_answers: bool) -> list[dict]:
    rows = []
    for r in frame.itertuples():
        row = {"id": r.id, "q": tokens(r.question), "c": tokens(r.context), "text": r.context}
        if with_answers:
            a0, a1 = int(r.answer_start), int(r.answer_start) + len(r.answer_text)
            words = [i for i, (_, s, e) in enumerate(row["c"]) if s < a1 and e > a0]
            if not words:
                continue
            row["span"] = (words[0], words[-1])
            row["answer"] = r.answer_text
        rows.append(row)
    return rows


def predict(model: SpanModel, rows: list[dict], vocab, device, batch_size: int) -> list[str]:
    model.eval()
    answers = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            start, end = model(Encoded(chunk, vocab, device))
            for r, (a, b) in zip(chunk, best_spans(start, end), strict=True):
                a, b = min(a, len(r["c"]) - 1), min(b, len(r["c"]) - 1)
                answers.append(r["text"][r["c"][a][1] : r["c"][b][2]])
    return answers


def main() -> None:
    limit_s = float(os.environ.get("PODIUM_TIME_LIMIT_SECONDS", "600"))
    memory = int(os.environ.get("PODIUM_MEMORY_LIMIT_BYTES", str(2 * 1024**3)))
    cpus = max(1, math.floor(float(os.environ.get("PODIUM_CPUS", "1"))))
    gpus = int(os.environ.get("PODIUM_GPUS", "0"))
    torch.set_num_threads(cpus)
    use_gpu = gpus > 0 and torch.cuda.is_available()
    device = torch.device("cuda" if use_gpu else "cpu")
    # About 2 MB of activations per paragraph in a batch, with room to spare; small
    # batches also keep the overrun past the training deadline short (one batch at most).
    batch_size = int(max(8, min(32, memory // (64 * 1024**2))))
    deadline = STARTED + TRAIN_SHARE * limit_s
    log(
        f"limits: {limit_s:g} s, {memory / 1024**3:.2f} GiB, {cpus} CPU(s), {gpus} GPU(s); "
        f"device {device}, {cpus} thread(s), batch {batch_size}, "
        f"training until {TRAIN_SHARE:.0%} of the time limit"
    )
    random.seed(SEED)
    torch.manual_seed(SEED)
    # keep_default_na=False: an answer such as "None" or "NaN" is text, not a missing value.
    train_frame = pd.read_csv(DATA / "train" / "train.csv", keep_default_na=False)
    test_frame = pd.read_csv(DATA / "test" / "test.csv", keep_default_na=False)
    rows = prepare(train_frame, with_answers=True)
    test_rows = prepare(test_frame, with_answers=False)
    random.shuffle(rows)
    held = max(1, len(rows) // 10)
    valid, train = rows[:held], rows[held:]
    counts = Counter(w for r in train for part in ("q", "c") for w, _, _ in r[part])
    vocab = {w: i + 2 for i, (w, n) in enumerate(counts.most_common()) if n >= 2}
    for r in train + valid + test_rows:
        r["f"] = word_features([w for w, _, _ in r["q"]], [w for w, _, _ in r["c"]], vocab)
    log(
        f"train {len(train)}, held out {len(valid)}, test {len(test_rows)} questions; "
        f"vocabulary {len(vocab) + 2} words"
    )

    model = SpanModel(len(vocab) + 2).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    best = -1.0
    for epoch in range(1, MAX_EPOCHS + 1):
        began = time.monotonic()
        model.train()
        random.shuffle(train)
        # Similar lengths together: less padding, faster epochs.
        order = sorted(range(len(train)), key=lambda i: (len(train[i]["c"]) // 20, i))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        random.shuffle(batches)
        total = 0.0
        out_of_time = False
        for done, indices in enumerate(batches):
            if time.monotonic() > deadline:
                log(f"training budget spent after {done} of {len(batches)} batches")
                out_of_time = True
                break
            chunk = [train[i] for i in indices]
            start, end = model(Encoded(chunk, vocab, device))
            target = torch.tensor([r["span"] for r in chunk], device=device)
            loss = loss_fn(start, target[:, 0]) + loss_fn(end, target[:, 1])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total += loss.item() * len(chunk)
        answers = predict(model, valid, vocab, device, batch_size)
        score = float(np.mean([f1(a, r["answer"]) for a, r in zip(answers, valid, strict=True)]))
        exact = float(
            np.mean(
                [
                    normalize(a) == normalize(r["answer"])
                    for a, r in zip(answers, valid, strict=True)
                ]
            )
        )
        epoch_seconds = time.monotonic() - began
        if score > best:
            best = score
            torch.save({"model": model.state_dict(), "epoch": epoch}, CHECKPOINT)
        log(
            f"epoch {epoch}: loss {total / max(1, len(train)):.3f}, held-out F1 {score:.3f}, "
            f"exact match {exact:.3f}, {epoch_seconds:.1f} s"
            + (" (checkpoint saved)" if score == best else "")
        )
        if out_of_time:
            break

    state = torch.load(CHECKPOINT)
    model.load_state_dict(state["model"])
    answers = predict(model, test_rows, vocab, device, batch_size)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": [r["id"] for r in test_rows], "answer": answers}).to_csv(
        OUTPUT / "predictions.csv", index=False
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    log(
        f"wrote {len(answers)} predictions with the epoch-{state['epoch']} checkpoint "
        f"(held-out F1 {best:.3f}); peak memory {peak / 1024**2:.0f} MiB"
    )
    print(json.dumps({"held_out_f1": round(best, 4), "peak_memory_bytes": peak}), flush=True)


if __name__ == "__main__":
    main()
