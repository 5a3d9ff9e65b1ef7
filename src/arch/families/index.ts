import type { Family } from '../family.js';
import { gemma3 } from './gemma3.js';
import { gpt2 } from './gpt2.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { phi3 } from './phi3.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';

/** Every supported family; one line each. */
export const FAMILIES: readonly Family[] = [gpt2, llama, mistral, qwen2, qwen3, phi3, gemma3];
