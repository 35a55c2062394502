"""Hybrid layouts: which token mixer each layer of each stage uses.

A layout is one string per stage over an alphabet of mixer letters, e.g. ``('LL', 'LL',
'LLSLLS', 'LS')`` for SoLA-Vision-T (``L`` = linear, ``S`` = global softmax). It may also be given
as one comma-separated string (``'LL,LL,LLSLLS,LS'``, handy on the command line) or as the name of
a preset in :data:`LAYOUT_PRESETS`.
"""
from typing import Sequence, Tuple, Union

LINEAR, SOFTMAX = 'L', 'S'

#: name -> description; each is turned into a layout for given depths by :func:`preset_layout`.
LAYOUT_PRESETS = {
    'sola': "the arch's layer-wise hybrid: softmax in a few layers of stages 3-4",
    'linear': 'linear attention in every layer',
    'softmax': 'global softmax attention in every layer',
    'stage': 'stages 1-2 linear, stages 3-4 softmax (stage-level hybrid, as in MALA/RAVLT)',
}


def sola_layout(depths: Sequence[int]) -> Tuple[str, ...]:
    """The default layer-wise layout (a reconstruction, see docs/known_and_reconstructed.md).

    Stages 1-2 are linear. Stage 3 uses softmax in every third layer counted back from its
    last layer; stage 4 in its last layer. Tiny (2, 2, 6, 2) gives ``LL, LL, LLSLLS, LS``.
    """
    layout = []
    for stage, depth in enumerate(depths):
        if stage < len(depths) - 2:
            letters = LINEAR * depth
        elif stage == len(depths) - 2:
            letters = ''.join(SOFTMAX if (depth - 1 - i) % 3 == 0 else LINEAR
                              for i in range(depth))
        else:
            letters = LINEAR * (depth - 1) + SOFTMAX
        layout.append(letters)
    return tuple(layout)


def preset_layout(name: str, depths: Sequence[int]) -> Tuple[str, ...]:
    """Expand a preset name of :data:`LAYOUT_PRESETS` for the given stage depths."""
    if name == 'sola':
        return sola_layout(depths)
    if name == 'linear':
        return tuple(LINEAR * d for d in depths)
    if name == 'softmax':
        return tuple(SOFTMAX * d for d in depths)
    if name == 'stage':
        half = len(depths) // 2
        return tuple((LINEAR if i < half else SOFTMAX) * d for i, d in enumerate(depths))
    raise ValueError(f'unknown layout preset {name!r}; presets: {sorted(LAYOUT_PRESETS)}, or '
                     "give one string of mixer letters per stage, e.g. 'LL,LL,LLSLLS,LS'")


def resolve_layout(layout: Union[str, Sequence[str]],
                   depths: Sequence[int],
                   letters: Sequence[str],
                   arch_layout: Union[None, Sequence[str]] = None) -> Tuple[str, ...]:
    """Turn ``layout`` into one validated string per stage.

    Args:
        layout: a preset name, a comma-separated string, or a sequence of per-stage strings.
        depths: number of layers per stage.
        letters: the known mixer letters.
        arch_layout: the arch's own layout, used for the ``'sola'`` preset when given.

    Raises:
        ValueError: naming the stage, its expected depth and the offending letter.
    """
    if isinstance(layout, str):
        if layout == 'sola' and arch_layout is not None:
            layout = tuple(arch_layout)
        elif layout in LAYOUT_PRESETS:
            layout = preset_layout(layout, depths)
        elif ',' in layout or len(depths) == 1:
            layout = tuple(part.strip() for part in layout.split(','))
        else:
            preset_layout(layout, depths)  # raises with the list of presets
    layout = tuple(layout)
    if len(layout) != len(depths):
        raise ValueError(f'layout {layout} has {len(layout)} stages, but the arch has '
                         f'{len(depths)} (depths {tuple(depths)})')
    for stage, (letters_of_stage, depth) in enumerate(zip(layout, depths), start=1):
        if not isinstance(letters_of_stage, str):
            raise ValueError(f'layout of stage {stage} must be a string of mixer letters, got '
                             f'{letters_of_stage!r}')
        if len(letters_of_stage) != depth:
            raise ValueError(f'layout of stage {stage} is {letters_of_stage!r} '
                             f'({len(letters_of_stage)} layers), but stage {stage} has depth '
                             f'{depth}')
        for position, letter in enumerate(letters_of_stage):
            if letter not in letters:
                raise ValueError(f'layout of stage {stage} ({letters_of_stage!r}) uses unknown '
                                 f'mixer letter {letter!r} at layer {position}; known letters: '
                                 f'{sorted(letters)} (add one through `mixers`)')
    return layout
