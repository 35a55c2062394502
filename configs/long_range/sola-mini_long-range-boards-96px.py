# The long-range benchmark on 96 x 96 boards of 6 x 6 cells of 16 px: the same task, model and
# budget as sola-mini_long-range-boards.py, with 2.25 times the tokens, so that opposite corners
# (distance 5, 113 px apart) lie farther apart than on the 64 x 64 board (distance 3, 68 px).
# A check of the main study's ceiling, not a study of its own: run it for a few layouts and the
# two ends of the distance range (docs/analysis.md, 'Long-range study').
_base_ = './sola-mini_long-range-boards.py'

image_size = 96
grid = 6
train_dataloader = dict(dataset=dict(image_size=image_size, grid=grid))
val_dataloader = dict(dataset=dict(image_size=image_size, grid=grid))
test_dataloader = val_dataloader
