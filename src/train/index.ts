export { AdamW, type AdamWOptions, type Param } from './adamw.js';
export { clipScale, globalNorm } from './clip.js';
export { initDecoderWeights, normalRng, tinyConfig, type InitOptions } from './init.js';
export { learningRate, type LrSchedule } from './schedule.js';
export { defaultTrainable } from '../autodiff/trainable.js';
export { Trainer, type StepResult, type TrainerOptions } from './trainer.js';
