import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { sha256 } from '../artifacts/digest.js';
import { canonicalJson } from './canonical-json.js';
import type { FeatureMatrix, Task } from './types.js';
import { MlInputError } from './types.js';

/** One input or output of an ONNX graph: its name, element type and shape (`null` for a symbolic dimension). */
export interface OnnxValue {
  name: string;
  type: string;
  shape: (number | null)[];
}

/** What a model file takes and gives, read from the graph: recorded in the package, checked when it is served. */
export interface OnnxSignature {
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

/**
 * A model made outside Cairn (the external trainer) as an ONNX graph, run with onnxruntime-node. `onnx` is the file,
 * base64; `environment` names what made it (the trainer's Python environment).
 */
export interface OnnxModel {
  kind: 'onnx';
  onnx: string;
  /** sha256 of the ONNX file. */
  digest: string;
  task: Task;
  signature: OnnxSignature;
  /** The output predictions are read from. */
  output: string;
  environment?: Record<string, unknown>;
}

/** A model file that is not an ONNX graph Cairn can score: not retryable. */
export class OnnxModelError extends MlInputError {
  constructor(message: string) {
    super(message, 'model');
  }
}

const ELEMENT = { float64: Float64Array, float32: Float32Array } as const;

type Ort = typeof OrtModule;
let runtime: Promise<Ort> | undefined;
/** onnxruntime-node is loaded by the processes that score an ONNX model, and only then. */
export const ort = () =>
  (runtime ??= import('onnxruntime-node').then((m) => (m as unknown as { default?: Ort }).default ?? m));

const sessions = new WeakMap<OnnxModel, Promise<InferenceSession>>();

async function createSession(bytes: Uint8Array): Promise<InferenceSession> {
  const { InferenceSession } = await ort();
  try {
    // One thread per session: serving runs many small requests side by side, and results do not depend on it.
    return await InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw new OnnxModelError(`not an ONNX model onnxruntime can load: ${err instanceof Error ? err.message : err}`);
  }
}

function signatureOf(session: InferenceSession): OnnxSignature {
  const value = (m: InferenceSession.ValueMetadata): OnnxValue => ({
    name: m.name,
    type: m.isTensor ? m.type : 'non-tensor',
    shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null)) : [],
  });
  return { inputs: session.inputMetadata.map(value), outputs: session.outputMetadata.map(value) };
}

/** The output a task's predictions are read from, or why the graph has none Cairn can use. */
function outputFor(signature: OnnxSignature, task: Task): OnnxValue {
  const tensors = signature.outputs.filter((o) => o.type in ELEMENT);
  const found =
    task === 'regression'
      ? tensors[0]
      : (tensors.find((o) => o.name === 'probabilities') ?? tensors.find((o) => o.shape.length === 2));
  if (!found)
    throw new OnnxModelError(
      `the graph has no ${task === 'regression' ? 'float' : 'probabilities'} output (outputs: ${signature.outputs
        .map((o) => `${o.name} ${o.type}`)
        .join(', ')}); export classifiers without ZipMap`
    );
  return found;
}

/**
 * Reads a model file as an OnnxModel for `features` (the feature matrix's columns, in order): it must load, take one
 * float tensor of `features.length` columns, and give a float output for the task.
 */
export async function readOnnxModel(
  bytes: Uint8Array,
  task: Task,
  features: readonly string[],
  environment?: Record<string, unknown>
): Promise<OnnxModel> {
  const signature = signatureOf(await createSession(bytes));
  const problems = inputProblems(signature, features.length);
  if (problems) throw new OnnxModelError(problems);
  const output = outputFor(signature, task).name;
  return {
    kind: 'onnx',
    onnx: Buffer.from(bytes).toString('base64'),
    digest: sha256(bytes),
    task,
    signature,
    output,
    ...(environment ? { environment } : {}),
  };
}

/** Why a graph's inputs do not take a feature matrix of `width` columns, or undefined when they do. */
function inputProblems(signature: OnnxSignature, width: number): string | undefined {
  const [input, ...rest] = signature.inputs;
  if (!input || rest.length)
    return `the graph must take one input, a rows × ${width} tensor (it takes ${signature.inputs.length})`;
  if (!(input.type in ELEMENT)) return `input ${input.name} is ${input.type}; Cairn sends float64 or float32`;
  if (input.shape.length !== 2 || input.shape[1] !== width)
    return `input ${input.name} has shape [${input.shape.map((d) => d ?? '?').join(', ')}]; the pipeline's features make [?, ${width}]`;
  return undefined;
}

/**
 * The model's session, created once per model object. Before its first use the file is checked against its digest and
 * the graph against the signature the package recorded: a server refuses a changed model when it loads it, not on the
 * first request.
 */
export async function onnxSession(model: OnnxModel): Promise<InferenceSession> {
  let session = sessions.get(model);
  if (!session) {
    session = (async () => {
      const bytes = Buffer.from(model.onnx, 'base64');
      if (sha256(bytes) !== model.digest)
        throw new OnnxModelError(`the ONNX file does not match its digest ${model.digest}`);
      const created = await createSession(bytes);
      const [actual, recorded] = [signatureOf(created), model.signature].map((s) => canonicalJson(s));
      if (actual !== recorded)
        throw new OnnxModelError(`the graph's signature ${actual} is not the recorded ${recorded}`);
      return created;
    })();
    sessions.set(model, session);
    session.catch(() => sessions.delete(model));
  }
  return session;
}

/** Predictions of an ONNX model, in Cairn's terms: values, P(class 1), or row-major class probabilities. */
export async function predictOnnx(model: OnnxModel, x: FeatureMatrix): Promise<Float64Array> {
  const session = await onnxSession(model);
  const { Tensor } = await ort();
  const input = model.signature.inputs[0]!;
  const width = x.columns.length;
  const problems = inputProblems(model.signature, width);
  if (problems) throw new OnnxModelError(problems);
  const data = new ELEMENT[input.type as keyof typeof ELEMENT](x.rows * width);
  for (let j = 0; j < width; j++) {
    const column = x.columns[j]!;
    for (let i = 0; i < x.rows; i++) data[i * width + j] = column[i]!;
  }
  const results = await session.run({ [input.name]: new Tensor(input.type as 'float64', data, [x.rows, width]) });
  const out = results[model.output]!.data as Float64Array | Float32Array;
  if (model.task !== 'binary') return Float64Array.from(out);
  // Binary classifiers give [P(class 0), P(class 1)] per row.
  const p = new Float64Array(x.rows);
  const k = out.length / x.rows;
  for (let i = 0; i < x.rows; i++) p[i] = out[i * k + k - 1]!;
  return p;
}
