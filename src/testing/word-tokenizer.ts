import path from 'node:path';
import { writeJsonAtomic } from '../util/fsx.js';

/** Where the config puts its special tokens (`bos_token_id` / `eos_token_id`); both in 0-2. */
export interface SpecialIds { bos: number; eos: number }

/**
 * Write a word-level tokenizer.json + tokenizer_config.json covering a fixture's vocabulary:
 * ids 0-2 are the special tokens <s> (bos), </s> (eos) and <unk> (the id left), placed where the
 * config says (default Llama's bos 1 / eos 2), the rest the words `w3` … `w{n-1}`; encoding prepends
 * <s> as Llama's tokenizer does. Text "w5 w9" → [bos, 5, 9].
 */
export function writeWordTokenizer(dir: string, vocabSize: number, ids: SpecialIds = { bos: 1, eos: 2 }): void {
  const { bos, eos } = ids;
  if (![bos, eos].every((i) => Number.isInteger(i) && i >= 0 && i <= 2) || bos === eos) {
    throw new Error(`word tokenizer: bos ${bos} and eos ${eos} must be distinct ids in 0-2`);
  }
  const special = ['', '', ''];
  special[bos] = '<s>';
  special[eos] = '</s>';
  special[special.indexOf('')] = '<unk>';
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
      special_tokens: { '<s>': { id: '<s>', ids: [bos], tokens: ['<s>'] } },
    },
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  });
  // add_bos_token as Llama's tokenizer_config says it: transformers.js' text-generation pipeline only
  // encodes with special tokens (the <s> of the template above) when add_bos_token/add_eos_token is set.
  writeJsonAtomic(path.join(dir, 'tokenizer_config.json'), {
    tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', model_max_length: 128,
    add_bos_token: true, add_eos_token: false,
  });
}
