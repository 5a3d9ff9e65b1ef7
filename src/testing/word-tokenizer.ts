import path from 'node:path';
import { writeJsonAtomic } from '../util/fsx.js';

/**
 * Write a word-level tokenizer.json + tokenizer_config.json covering a fixture's vocabulary:
 * ids 0-2 are <unk>, <s>, </s> (Llama's bos 1 / eos 2), the rest the words `w3` … `w{n-1}`;
 * encoding prepends <s> as Llama's tokenizer does. Text "w5 w9" → [1, 5, 9].
 */
export function writeWordTokenizer(dir: string, vocabSize: number): void {
  const special = ['<unk>', '<s>', '</s>'];
  const vocab: Record<string, number> = {};
  for (let i = 0; i < vocabSize; i++) vocab[i < special.length ? special[i] : `w${i}`] = i;
  writeJsonAtomic(path.join(dir, 'tokenizer.json'), {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  });
  writeJsonAtomic(path.join(dir, 'tokenizer_config.json'), {
    tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', model_max_length: 128,
  });
}
