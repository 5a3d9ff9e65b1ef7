export { buildGradientGraph, gradName, initializersToInputs, type GradientOptions } from './engine.js';
export { addCrossEntropyLoss, nextTokenLabels, type CrossEntropyOptions } from './loss.js';
export { AutodiffError, type GradRule, GradContext } from './context.js';
export { RULES } from './rules/index.js';
