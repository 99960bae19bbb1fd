"""RGB rendering of the body model: shaded capsules with a z-buffer over a textured background.

Clothing and skin colours come from the subject; the camera shakes a little per frame; props (an object in the
hands, a hat, glasses) are drawn only here, so they are cues that RGB has and the skeleton lacks.
Pure numpy, batched over frames and cropped to the body's bounding box. Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

import numpy as np

from mglib.data.body import LEFT, RIGHT, Subject
from mglib.data.sensors import Camera

# (from, to, radius_from, radius_to, colour key): drawn with a z-buffer, so order only breaks ties
_PARTS = [
    ("spine_base", "spine_shoulder", .14, .16, "shirt"),
    ("shoulder0", "shoulder1", .06, .06, "shirt"),
    ("hip0", "knee0", .08, .07, "pants"), ("hip1", "knee1", .08, .07, "pants"),
    ("knee0", "ankle0", .06, .05, "pants"), ("knee1", "ankle1", .06, .05, "pants"),
    ("ankle0", "toe0", .04, .035, "shoe"), ("ankle1", "toe1", .04, .035, "shoe"),
    ("neck", "neck_top", .05, .05, "skin"),
    ("hair_c", "hair_c", .105, .105, "hair"),
    ("head", "head", .10, .10, "skin"),
    ("shoulder0", "elbow0", .05, .045, "shirt"), ("shoulder1", "elbow1", .05, .045, "shirt"),
    ("elbow0", "wrist0", .045, .035, "sleeve"), ("elbow1", "wrist1", .045, .035, "sleeve"),
    ("wrist0", "hand0", .035, .045, "skin"), ("wrist1", "hand1", .035, .045, "skin"),
    ("fing0", "fing0", .03, .03, "skin"), ("fing1", "fing1", .03, .03, "skin"),
    ("eye0", "eye0", .014, .014, "eye"), ("eye1", "eye1", .014, .014, "eye"),
    ("mouth", "mouth", .016, .016, "mouth"),
]

# Opt-in colour code (``limb_colours``): one saturated colour per body part and side instead of clothing, so a small
# network can tell at a few pixels which limb moves. Right side (0) warm, left side (1) cold; eyes and mouth keep
# their colours, so the face shows where the head points.
_CODE = {("spine_base", "spine_shoulder"): (200, 200, 200), ("shoulder0", "shoulder1"): (200, 200, 200),
         ("neck", "neck_top"): (240, 220, 40), ("head", "head"): (240, 220, 40), ("hair_c", "hair_c"): (120, 60, 0),
         ("shoulder0", "elbow0"): (230, 40, 40), ("elbow0", "wrist0"): (230, 40, 40),
         ("wrist0", "hand0"): (255, 160, 120), ("fing0", "fing0"): (255, 160, 120),
         ("shoulder1", "elbow1"): (40, 90, 235), ("elbow1", "wrist1"): (40, 90, 235),
         ("wrist1", "hand1"): (130, 210, 255), ("fing1", "fing1"): (130, 210, 255),
         ("hip0", "knee0"): (250, 140, 0), ("knee0", "ankle0"): (250, 140, 0), ("ankle0", "toe0"): (120, 60, 0),
         ("hip1", "knee1"): (30, 180, 70), ("knee1", "ankle1"): (30, 180, 70), ("ankle1", "toe1"): (0, 90, 40),
         ("nose", "nose"): (230, 0, 120)}
_NOSE = ("nose", "nose", .035, .035, "skin")  # drawn in colour-coded renders only: where the face points


def background(rng: np.random.Generator, subj: Subject, h: int, w: int, margin: int) -> np.ndarray:
    """A smooth two-colour texture with a wall/floor edge, (h + 2m, w + 2m, 3) float32 in 0..255."""
    H, W = h + 2 * margin, w + 2 * margin
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) / max(H, W)
    tex = np.zeros((H, W), np.float32)
    for _ in range(4):
        fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
        tex += np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
    tex = 0.5 + 0.125 * tex
    c0, c1 = np.array(subj.colors["bg0"], np.float32), np.array(subj.colors["bg1"], np.float32)
    img = c0 * tex[..., None] + c1 * (1 - tex[..., None])
    floor = yy > rng.uniform(0.65, 0.85)
    img[floor] *= 0.7
    img += rng.normal(0, 4, img.shape).astype(np.float32)  # sensor grain baked into the texture
    return np.clip(img, 0, 255)


def _points(J: dict) -> dict:
    P = dict(J)
    up = J["head"] - J["neck"]
    P["neck_top"] = J["neck"] + 0.4 * up
    P["hair_c"] = J["head"] + 0.25 * (J["head"] - J["neck"]) + 0.3 * (J["head"] - J["nose"])
    for s in (RIGHT, LEFT):
        P[f"fing{s}"] = J[f"fingers{s}"][:, 1:4].mean(1)
    return P


def render(J: dict, props: dict, subj: Subject, cam: Camera, frames: np.ndarray, rng: np.random.Generator,
           shake_px: float = 0.5, batch: int = 64, limb_colours: bool = False) -> np.ndarray:
    """Render the selected ``frames`` (indices into J's time axis) -> uint8 (len(frames), H, W, 3).

    ``limb_colours``: paint each limb in its colour of ``_CODE`` instead of the subject's clothes."""
    H, W = cam.height, cam.width
    margin = 3
    bg = background(rng, subj, H, W, margin)
    T = len(J["head"])
    # camera shake: a random walk pulled back toward the centre, within the background margin
    steps = rng.normal(0, shake_px * 0.3, (T, 2))
    shake = np.zeros((T, 2))
    for i in range(1, T):
        shake[i] = 0.95 * shake[i - 1] + steps[i]
    shake = np.clip(shake, -margin + 1, margin - 1)
    P = _points(J)
    colors = dict(subj.colors)
    colors["sleeve"] = tuple(int(c * 0.8) for c in subj.colors["shirt"])
    colors["shoe"], colors["eye"], colors["mouth"] = (30, 25, 20), (25, 20, 20), (140, 60, 60)
    colors = {k: np.array(v, np.float32) for k, v in colors.items()}
    parts = _PARTS + [_NOSE] if limb_colours else _PARTS
    keys = sorted({k for part in parts for k in part[:2]})
    uvz = {k: cam.project(P[k], shake) for k in keys}
    prop_col = np.array([255, 0, 200], np.float32), np.array([250, 200, 0], np.float32)
    hand_mid = 0.5 * (P["hand0"] + P["hand1"]) + np.array([0, 0.02, -0.05])
    hat_c = P["head"] + 0.75 * (P["head"] - P["neck"])
    prop_uvz = {"object": cam.project(hand_mid, shake), "hat": cam.project(hat_c, shake),
                "glasses0": cam.project(P["eye0"] + np.array([0, 0, -0.02]), shake),
                "glasses1": cam.project(P["eye1"] + np.array([0, 0, -0.02]), shake)}
    out = np.empty((len(frames), H, W, 3), np.uint8)
    for b0 in range(0, len(frames), batch):
        idx = np.asarray(frames[b0:b0 + batch])
        B = len(idx)
        ox = np.round(shake[idx, 0]).astype(int)
        oy = np.round(shake[idx, 1]).astype(int)
        img = np.stack([bg[margin + y:margin + y + H, margin + x:margin + x + W] for x, y in zip(ox, oy)])
        # crop to the body's bounding box over the batch (pixels outside show only background)
        allu = np.stack([uvz[k][0][idx] for k in keys], 1)  # (B, K, 2)
        pad = 8
        x0 = int(np.clip(np.floor(allu[..., 0].min()) - pad, 0, W))
        x1 = int(np.clip(np.ceil(allu[..., 0].max()) + pad, 0, W))
        y0 = int(np.clip(np.floor(allu[..., 1].min()) - pad, 0, H))
        y1 = int(np.clip(np.ceil(allu[..., 1].max()) + pad, 0, H))
        if x1 > x0 and y1 > y0:
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            sub = img[:, y0:y1, x0:x1].copy()
            zbuf = np.full(sub.shape[:3], np.inf, np.float32)
            sub = sub.astype(np.float32)

            def draw(uv0, z0, uv1, z1, r0, r1, col, alpha=None):
                # each capsule only touches its own bounding box over the batch
                rmax = float(max(r0.max(), r1.max())) + 1.0
                lo = np.minimum(uv0, uv1).min(0) - rmax
                hi = np.maximum(uv0, uv1).max(0) + rmax
                cx0, cy0 = max(int(lo[0]) - x0, 0), max(int(lo[1]) - y0, 0)
                cx1, cy1 = min(int(np.ceil(hi[0])) - x0 + 1, x1 - x0), min(int(np.ceil(hi[1])) - y0 + 1, y1 - y0)
                if cx1 <= cx0 or cy1 <= cy0:
                    return
                gx, gy = xx[cy0:cy1, cx0:cx1], yy[cy0:cy1, cx0:cx1]
                view, zb = sub[:, cy0:cy1, cx0:cx1], zbuf[:, cy0:cy1, cx0:cx1]
                f32 = np.float32
                ax, ay = uv0[:, 0].astype(f32)[:, None, None], uv0[:, 1].astype(f32)[:, None, None]
                bx = (uv1[:, 0] - uv0[:, 0]).astype(f32)[:, None, None]
                by = (uv1[:, 1] - uv0[:, 1]).astype(f32)[:, None, None]
                L2 = bx * bx + by * by + f32(1e-6)
                px, py = gx[None] - ax, gy[None] - ay
                t = np.clip((px * bx + py * by) / L2, 0, 1)
                dx, dy = px - t * bx, py - t * by
                d = np.sqrt(dx * dx + dy * dy)
                r = r0.astype(f32)[:, None, None] + t * (r1 - r0).astype(f32)[:, None, None]
                z = z0.astype(f32)[:, None, None] + t * (z1 - z0).astype(f32)[:, None, None]
                cover = np.clip(r + f32(0.5) - d, 0, 1)
                if alpha is not None:
                    cover *= alpha[:, None, None]
                cover *= z < zb
                if not cover.any():
                    return
                shade = f32(1) - f32(0.35) * np.minimum(d / np.maximum(r, f32(1e-3)), 1) ** 2
                c = cover[..., None]
                view += c * (col * shade[..., None] - view)
                np.copyto(zb, z, where=cover > 0.5)

            for k0, k1, r0, r1, ck in parts:
                (u0, zz0), (u1, zz1) = uvz[k0], uvz[k1]
                col = np.array(_CODE[k0, k1], np.float32) if limb_colours and (k0, k1) in _CODE else colors[ck]
                draw(u0[idx], zz0[idx], u1[idx], zz1[idx], cam.focal * r0 / zz0[idx], cam.focal * r1 / zz1[idx], col)
            for name, key, radius, col in (("object", "object", .045, prop_col[0]), ("hat", "hat", .09, prop_col[1]),
                                           ("glasses", "glasses0", .028, colors["eye"]),
                                           ("glasses", "glasses1", .028, colors["eye"])):
                alpha = props[name][idx]
                if alpha.max() <= 0:
                    continue
                uv, z = prop_uvz[key]
                rr = cam.focal * radius / z[idx]
                draw(uv[idx], z[idx] - 0.05, uv[idx], z[idx] - 0.05, rr, rr, col, alpha=alpha.astype(np.float32))
            img[:, y0:y1, x0:x1] = sub
        out[b0:b0 + B] = np.clip(img, 0, 255).astype(np.uint8)
    return out
