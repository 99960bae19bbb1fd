"""Class -> motion primitive tables for SMG (17), iMiGUE (32) and MA-52 / MMA-52 (52).

The primitives are grouped by body part as the real taxonomies are. Two kinds of deliberate difficulty:
- ambiguous pairs that differ only in where the hand lands, with the same motion: neck vs shoulder (MA-52 32/35),
  eyes vs forehead (MA-52 42/40, iMiGUE C7/C5), neck vs suprasternal notch (iMiGUE C12/C15, SMG 5/3);
- RGB-only cues: classes whose skeleton motion equals another class's and which differ only by a prop the renderer
  draws (an object in the hands, a hat, glasses): MA-52 12/13, 47/43; iMiGUE C26/C23, C3/C4; SMG 15/7.
Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

from mglib.data.body import P

# SMG durations come from the real per-class medians (synth_smg.py, calibration.py), not from base_s
SMG = [
    P("head", "turtle"),                                       # 0 turtling neck and shoulder
    P("hand", "contact", "eye", "rub"),                        # 1 rubbing eyes and forehead
    P("hands", "fold"),                                        # 2 folding arms
    P("hand", "contact", "notch", "hold"),                     # 3 touching suprasternal notch
    P("legs", "move"),                                         # 4 moving legs
    P("hand", "contact", "neck", "scratch"),                   # 5 touching or scratching neck
    P("hands", "contact", "back_low", "hold"),                 # 6 folding arms behind body
    P("hands", "together", "", "rub"),                         # 7 rubbing hands, crossing fingers
    P("hands", "contact", "hip", "hold"),                      # 8 arms akimbo
    P("legs", "cross"),                                        # 9 crossing legs
    P("hand", "contact", "upper_arm", "scratch", cross=True),  # 10 scratching some part of body
    P("hand", "contact", "cheek", "scratch"),                  # 11 facial parts other than eyes
    P("hand", "contact", "hair", "twirl"),                     # 12 playing or adjusting hair
    P("hands", "hold_arms"),                                   # 13 holding arms
    P("hand", "contact", "collar", "pat"),                     # 14 pulling shirt collar
    P("hands", "together", "", "rub", prop="object"),          # 15 jewelry / objects (RGB cue; twin of 7)
    P("hands", "illustrative"),                                # 16 illustrative hand gestures (non-MG)
]

IMIGUE = [
    P("head", "turtle"),                                           # C1 turtle neck
    P("head", "breath"),                                           # C2 bulging face, deep breath
    P("hand", "contact", "top", "hold", prop="hat"),               # C3 touching hat (RGB cue; twin of C4)
    P("hand", "contact", "top", "hold"),                           # C4 touching or scratching head
    P("hand", "contact", "forehead", "rub"),                       # C5 forehead (ambiguous with C7)
    P("hands", "contact", "face", "hold"),                         # C6 covering face
    P("hand", "contact", "eye", "rub"),                            # C7 rubbing eyes
    P("hand", "contact", "cheek", "scratch"),                      # C8 facial parts
    P("hand", "contact", "ear", "hold"),                           # C9 touching ears
    P("hand", "contact", "mouth", "fidget"),                       # C10 biting nails
    P("hand", "contact", "jaw", "hold"),                           # C11 touching jaw
    P("hand", "contact", "neck", "scratch"),                       # C12 neck (ambiguous with C15)
    P("hand", "contact", "hair", "twirl"),                         # C13 playing or adjusting hair
    P("hands", "contact", "collar", "pat"),                        # C14 buttons, collar, tie
    P("hand", "contact", "notch", "scratch"),                      # C15 suprasternal notch
    P("hand", "contact", "back", "scratch"),                       # C16 scratching back
    P("hands", "fold"),                                            # C17 folding arms
    P("hand", "contact", "chest", "brush", cross=True),            # C18 dusting off clothes
    P("hands", "contact", "back_low", "hold"),                     # C19 arms behind body
    P("torso", "shift"),                                           # C20 moving torso
    P("torso", "straight"),                                        # C21 sitting straightly
    P("hand", "contact", "upper_arm", "scratch", cross=True),      # C22 scratching or touching arms
    P("hands", "together", "", "rub"),                             # C23 rubbing or holding hands
    P("hands", "interlace", "", "hold"),                           # C24 crossing fingers
    P("hands", "minaret"),                                         # C25 minaret gesture
    P("hands", "together", "", "rub", prop="object"),              # C26 playing with objects (RGB cue; twin of C23)
    P("hands", "hold_arms"),                                       # C27 hold back arms
    P("head", "up"),                                               # C28 head up
    P("head", "lips"),                                             # C29 pressing lips (almost no pose signal)
    P("hands", "contact", "hip", "hold"),                          # C30 arms akimbo
    P("torso", "shake_shoulders"),                                 # C31 shaking shoulders
    P("hands", "illustrative"),                                    # C32 illustrative (non-MG)
]

MA52 = [
    P("torso", "shake", base_s=3.0),                               # 0 shaking body
    P("torso", "straight", base_s=3.0),                            # 1 sitting straightly
    P("torso", "shrug", base_s=2.5),                               # 2 shrugging
    P("torso", "turn", base_s=4.0),                                # 3 turning around
    P("torso", "rise", base_s=4.0),                                # 4 rising up
    P("head", "bow", base_s=3.0),                                  # 5 bowing head
    P("head", "up", base_s=3.0),                                   # 6 head up
    P("head", "tilt", base_s=3.0),                                 # 7 tilting head
    P("head", "turn", base_s=3.0),                                 # 8 turning head
    P("head", "nod", base_s=2.5),                                  # 9 nodding
    P("head", "shake", base_s=2.5),                                # 10 shaking head
    P("hand", "contact", "upper_arm", "scratch", cross=True, base_s=3.5),  # 11 scratching arms
    P("hands", "together", "", "fidget", prop="object", base_s=5.0),       # 12 playing objects (twin of 13)
    P("hands", "together", "", "fidget", base_s=5.0),              # 13 putting hands together
    P("hands", "together", "", "rub", base_s=4.0),                 # 14 rubbing hands
    P("hand", "contact", "chest", "pat", base_s=2.5),              # 15 pointing oneself
    P("hand", "fist", base_s=3.0),                                 # 16 clenching fist
    P("hands", "stretch", base_s=3.5),                             # 17 stretching arms
    P("hands", "retract", base_s=3.0),                             # 18 retracting arms
    P("hand", "wave", "", "wave", base_s=3.0),                     # 19 waving
    P("hands", "spread", base_s=3.0),                              # 20 spreading hands
    P("hands", "minaret", "", "fidget", base_s=4.0),               # 21 hands touching fingers
    P("hand", "fingers", base_s=4.0),                              # 22 other finger movements
    P("hands", "illustrative", base_s=4.0),                        # 23 illustrative gestures
    P("legs", "shake", base_s=4.0),                                # 24 shaking legs
    P("legs", "curl", base_s=4.0),                                 # 25 curling legs
    P("legs", "spread", base_s=4.0),                               # 26 spread legs
    P("legs", "close", base_s=4.0),                                # 27 closing legs
    P("legs", "cross", base_s=5.0),                                # 28 crossing legs
    P("legs", "stretch", base_s=4.0),                              # 29 stretching feet
    P("legs", "retract", base_s=4.0),                              # 30 retracting feet
    P("legs", "tiptoe", base_s=3.0),                               # 31 tiptoe
    P("hand", "contact", "neck", "scratch", base_s=3.5),           # 32 neck (ambiguous with 35)
    P("hand", "contact", "chest", "scratch", base_s=3.5),          # 33 chest
    P("hand", "contact", "back", "scratch", base_s=3.5),           # 34 back
    P("hand", "contact", "shoulder", "scratch", base_s=3.5),       # 35 shoulder
    P("hands", "contact", "hip", "hold", base_s=5.0),              # 36 arms akimbo
    P("hands", "fold", base_s=5.0),                                # 37 crossing arms
    P("hand", "contact", "hair", "twirl", base_s=3.5),             # 38 playing or tidying hair
    P("hand", "contact", "hindbrain", "scratch", base_s=3.5),      # 39 hindbrain
    P("hand", "contact", "forehead", "rub", base_s=3.5),           # 40 forehead (ambiguous with 42)
    P("hand", "contact", "cheek", "scratch", base_s=3.5),          # 41 face
    P("hand", "contact", "eye", "rub", base_s=3.5),                # 42 rubbing eyes
    P("hand", "contact", "nose", "hold", base_s=2.5),              # 43 touching nose
    P("hand", "contact", "ear", "hold", base_s=3.0),               # 44 touching ears
    P("hands", "contact", "face", "hold", base_s=3.5),             # 45 covering face
    P("hand", "contact", "mouth", "hold", base_s=3.0),             # 46 covering mouth
    P("hand", "contact", "glasses", "hold", prop="glasses", base_s=2.5),  # 47 pushing glasses (RGB cue; near 43)
    P("hand", "contact", "thigh", "pat", base_s=3.0),              # 48 patting legs
    P("hand", "contact", "thigh", "hold", base_s=3.5),             # 49 touching legs
    P("hand", "contact", "knee", "scratch", base_s=3.5),           # 50 scratching legs
    P("hand", "contact", "ankle", "scratch", base_s=4.0),          # 51 scratching feet
]

TABLES = {"smg": SMG, "imigue": IMIGUE, "mma52": MA52}
AMBIGUOUS_PAIRS = {"smg": [(5, 3)], "imigue": [(6, 4), (11, 14)], "mma52": [(32, 35), (42, 40)]}
RGB_CUE_PAIRS = {"smg": [(15, 7)], "imigue": [(25, 22), (2, 3)], "mma52": [(12, 13), (47, 43)]}

assert len(SMG) == 17 and len(IMIGUE) == 32 and len(MA52) == 52

# ---------------------------------------------------------------------------------------------- iMiGUE sweep knobs
# The share of classes whose cue is RGB-only (knob ``rgb_cue_share``): the first n candidates (twin, source, prop)
# become twins, i.e. the twin's skeleton motion is the source's and only the prop the renderer draws tells them
# apart (C3 then touches the top of the head under its hat, exactly as C4 does). The first two are the designed pairs
# above (2 of 32 classes by default); a candidate left out moves in its
# own way, with no prop (``IMIGUE_POSE_CUE``), so that at share 0 every class differs from every other by pose.
# The added twins wear the hat: a 9 cm disc above the head is learnable from scratch at the CPU profiles' 32-pixel
# crops, where the 4.5 cm object in the hands (about 3 pixels) mostly is not.
IMIGUE_TWIN_CANDIDATES = [(25, 22, "object"), (2, 3, "hat"), (12, 8, "hat"), (17, 21, "hat"), (9, 10, "hat"),
                          (23, 26, "hat")]
IMIGUE_POSE_CUE = {
    25: P("hand", "fingers"),                                      # C26 fiddling with the fingers of one hand
    2: P("hand", "contact", "hat", "pat"),                         # C3 patting the top of the head
}


def imigue_table(rgb_cue_share: float | None, classes) -> tuple[list, list[tuple[int, int]]]:
    """The 32 iMiGUE primitives with round(share x len(classes)) RGB-only twins among ``classes`` (None: the
    designed pairs), and the (twin, source) pairs in effect. Only candidates with both classes present count."""
    from dataclasses import replace

    from mglib.errors import InputError

    present = set(classes)
    usable = [c for c in IMIGUE_TWIN_CANDIDATES if c[0] in present and c[1] in present]
    designed = sum((t, s) in RGB_CUE_PAIRS["imigue"] for t, s, _ in usable)
    n = designed if rgb_cue_share is None else int(round(rgb_cue_share * len(present)))
    if not 0 <= n <= len(usable):
        raise InputError(f"knob rgb_cue_share={rgb_cue_share}: expected at most {len(usable)} RGB-only classes "
                         f"among these {len(present)} (share <= {len(usable) / len(present):.3f})")
    table = list(IMIGUE)
    for k, (twin, source, prop) in enumerate(usable):
        if k < n:
            table[twin] = replace(IMIGUE[source], prop=prop)
        elif twin in IMIGUE_POSE_CUE:
            table[twin] = IMIGUE_POSE_CUE[twin]
    return table, [(t, s) for t, s, _ in usable[:n]]


def imigue_pair_offset(c: int, distance: float) -> tuple[float, float, float]:
    """Offset (m, x toward the acting hand's side) of the contact site of class ``c`` when the designed ambiguous
    pairs (a, b) are set ``distance`` times their body distance apart (knob ``pair_distance``): b's site moves to
    a + distance * (b - a); a and the other classes stay. In units of a body of scale 1."""
    from mglib.data.body import _HEAD_SITES, _TORSO_SITES

    for a, b in AMBIGUOUS_PAIRS["imigue"]:
        if c == b:
            sites = _HEAD_SITES if IMIGUE[a].site in _HEAD_SITES else _TORSO_SITES
            site_a, site_b = sites[IMIGUE[a].site][:3], sites[IMIGUE[b].site][:3]  # lateral x is already per side
            return tuple((distance - 1) * (vb - va) for vb, va in zip(site_b, site_a))
    return (0.0, 0.0, 0.0)
