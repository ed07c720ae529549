/**
 * The `tarflow` program: commander definitions of every command and the
 * error handling they share. Commands live in ./commands and are imported
 * when they run, so --help and flag errors answer without loading tfjs; this
 * file only declares flags and maps errors to exit codes.
 */
import { Command, CommanderError, Option } from 'commander';
import { intArg, labelsArg, numberArg } from './args.js';
import { shardArgWithEnv } from './shard-env.js';
import { BACKENDS, CONFIG_FLAGS, DEFAULT_BATCH, SOLVERS } from './constants.js';
import { LIMITS } from './validate.js';
import { CliError, messageOf } from './errors.js';

export const VERSION = '0.1.0';

const backendOption = () =>
  new Option('--backend <name>', 'tfjs backend: webgpu (a GPU through Dawn), wasm (fast CPU, one core), cpu (plain JavaScript), or auto (the first available of these)')
    .choices(BACKENDS)
    .default('auto');

function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print machine-readable JSON on stdout instead of text')
    .option('--progress', 'show the progress bar on stderr even when it is not a terminal')
    .option('--no-progress', 'never show the progress bar');
}

function checkpointOption(cmd: Command): Command {
  return cmd
    .option('--checkpoint <file>', 'model checkpoint (.safetensors, or a PyTorch .pth converted on the fly); default: the embedded default model')
    .addOption(new Option('--model <name|file>', 'a model of @tarflow/zoo (mnist, the default; fashion-mnist) or a checkpoint file').conflicts('checkpoint'))
    .hook('preAction', async (command) => {
      // --model names the checkpoint the command loads: a zoo model's file, or the file given.
      const name = command.getOptionValue('model') as string | undefined;
      if (name === undefined) return;
      const { checkpointOfModelFlag } = await import('./model-source.js');
      command.setOptionValue('checkpoint', checkpointOfModelFlag(name));
    });
}

function guidanceOptions(cmd: Command): Command {
  return cmd
    .option('--guidance <scale>', 'classifier-free guidance scale (0 = none; the default model uses its recommended scale unless given)', numberArg(0, false, 1000))
    .addOption(new Option('--guide <target>', 'what guidance acts on: the log-scale α, the shift γ, or both (default both)').choices(['alpha', 'gamma', 'both']))
    .option('--annealed', 'anneal the guidance scale linearly over positions')
    .option('--attn-temp <t>', 'attention temperature of the unconditional branch (default 1)', numberArg(0, true, 1000));
}

function temperatureOption(cmd: Command): Command {
  return cmd.option(
    '--temperature <t>',
    'sampling temperature: the noise is scaled by it (default 1; the default model uses its recommended temperature unless given)',
    numberArg(0, true, 100),
  );
}

function planCacheOptions(cmd: Command): Command {
  return cmd
    .option('--plan-cache <dir>', 'folder of kept plans (default: $XDG_CACHE_HOME/tarflow/plans, else ~/.cache/tarflow/plans)')
    .option('--no-plan-cache', 'neither read nor keep plans');
}

function calibrationOptions(cmd: Command, countDefault: number): Command {
  return cmd
    .option('--images <file>', 'calibration images: a .safetensors file with tensor x [B,C,H,W] in the model\'s data range')
    .option('--dataset <name>', "calibration images from a dataset: mnist, fashion-mnist, or a folder of PNGs")
    .option('--count <n>', 'images taken from --dataset', intArg(1, LIMITS.calibration), countDefault)
    .addOption(new Option('--split <split>', 'dataset split for --dataset').choices(['train', 'test']).default('test'));
}

/** Largest values of the config flags: far past any model that fits in memory, and small enough to refuse before allocating. */
const CONFIG_MAX: Record<string, number> = {
  inChannels: 64, imgSize: 4096, patchSize: 4096, channels: 65536, numBlocks: 1024, layersPerBlock: 1024,
  numClasses: 1_000_000, headDim: 65536, expansion: 64,
};

function configOptions(cmd: Command): Command {
  const help: Record<string, string> = {
    inChannels: 'image channels', imgSize: 'image side length', patchSize: 'patch side length', channels: 'transformer width',
    numBlocks: 'flow blocks', layersPerBlock: 'transformer layers per block', numClasses: 'classes (0 = unconditional)',
    noiseStd: 'training noise std', headDim: 'attention head size', expansion: 'MLP expansion factor',
  };
  for (const key of Object.keys(CONFIG_FLAGS)) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    cmd.option(`--${flag} <n>`, `config ${CONFIG_FLAGS[key as keyof typeof CONFIG_FLAGS]}: ${help[key]}`, key === 'noiseStd' ? numberArg(0, false, 10) : intArg(key === 'numClasses' ? 0 : 1, CONFIG_MAX[key]));
  }
  return cmd;
}

function sampleSolverOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--solver <name>', 'auto (the planner: a plan shipped in the model file, a cached one, or a quick plan that never costs more than it saves), sequential (exact KV-cache loop), jacobi, gs-jacobi, or joint (Jacobi over all blocks at once)').choices(SOLVERS).default('auto'))
    .addOption(new Option('--objective <objective>', 'what --solver auto minimises: wall time on this backend, or depth').choices(['time', 'depth']).default('time'))
    .option('--strategy <text>', "per-block strategy: [Stack-GS-J-Else] notation (e.g. '[0-4-12-10]'), JSON, 'sequential' or 'jacobi'; or 'joint:N' (at most N joint iterations over all blocks; 'joint:N (tol EPS)' stops once no block moves by more than EPS); overrides --solver")
    .option('--tolerance <eps>', 'stop a Jacobi module once max|Δ| <= eps (default 1e-4 for --solver jacobi/gs-jacobi)', numberArg(0, false, 1e6))
    .option('--modules <G>', 'GS modules per block for --solver gs-jacobi (default 4)', intArg(1))
    .option('--iterations <J>', 'Jacobi iterations per module at most, or joint iterations for --solver joint (default: exact — the module size; blocks × (T − 1) for joint)', intArg(1))
    .addOption(new Option('--guess <guess>', 'initial Jacobi guess: the noise itself, zeros after position 0, or (joint only) the calibrated table: class means plus a linear term, from a calibration batch').choices(['noise', 'zeros', 'table']))
    .option('--reference-semantics', 'reproduce the GS-Jacobi reference code: clamp iterates to [-3, 3] and cache the last iteration\'s keys/values')
    .option('--no-divergence-guard', 'do not re-solve diverging Jacobi modules exactly');
}

export function buildProgram(): Command {
  const program = new Command('tarflow');
  program
    .description('Fast sampling of TarFlow normalizing flows: sample, plan, metrics, train, convert, merge, bench')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  planCacheOptions(temperatureOption(guidanceOptions(sampleSolverOptions(checkpointOption(program.command('sample'))))))
    .description('draw images from a model (the embedded default model unless --model or --checkpoint)')
    .option('--labels <labels>', "class labels: a comma list cycled over the batch (-1 = unconditional) or 'random'; default: classes in turn", labelsArg)
    .option('--labels-file <file>', 'labels from a .safetensors file (tensor labels [B], int64 or int32)')
    .option('--noise <file>', 'noise from a .safetensors file (tensor noise [B,T,D]) instead of seeded draws')
    .option('--denoise', 'finish with one score-based denoising step (the default model does unless --no-denoise)')
    .option('--no-denoise', 'skip the denoising step')
    .option('--seed <n>', 'seed: sample i draws its noise (and random label) from (seed, i)', intArg(0, LIMITS.seed), 0)
    .option('--batch <n>', `number of samples in the run (default: the rows of --noise, the length of a --labels list, else ${DEFAULT_BATCH}; at most ${LIMITS.samples})`, intArg(1, LIMITS.samples))
    .option('--chunk <n>', 'samples per model call (bounds memory)', intArg(1, LIMITS.batch), 64)
    .addOption(new Option('--engine <engine>', 'how block maps are evaluated: fused kernels where the backend has them (auto), always (fused: falls back to plain, saying why, where they do not run) or the plain tfjs ops').choices(['auto', 'fused', 'plain']).default('auto'))
    .option('--shard <i/n>', "sample only shard i of n (contiguous ranges of sample indices; shards numbered from 1); 'auto/n' or 'auto' takes i (and n) from a Kubernetes Indexed Job or SLURM array", (v: string) => shardArgWithEnv(v))
    .addOption(backendOption())
    .option('--out <file>', 'write a PNG grid (.png) or the tensor sample [B,C,H,W] (.safetensors)')
    .option('--nrow <n>', 'images per row of the PNG grid', intArg(1))
    .option('--trace <file>', 'write the per-block trace as a PNG (rows: samples; columns: noise, then each block)')
    .addHelpText('after', `
Examples:
  tarflow sample --out samples.png
  tarflow sample --solver gs-jacobi --modules 4 --labels 3 --batch 8 --out threes.png
  tarflow sample --strategy '[0-4-12-10]' --guidance 1.5 --out guided.png
  tarflow sample --solver joint --iterations 19 --guess table --out joint.png
  tarflow sample --checkpoint model.safetensors --noise noise.safetensors --labels-file labels.safetensors --out x.safetensors
  tarflow sample --batch 1000 --shard 2/4 --out part2.safetensors   # then: tarflow merge part*.safetensors --out all.safetensors`)
    .action(async (flags) => (await import('./commands/sample.js')).sampleCommand(flags));

  program.command('merge')
    .description('join the .safetensors outputs of sample --shard runs into one file or PNG grid')
    .argument('<shards...>', 'shard files written by tarflow sample --shard i/n --out file.safetensors')
    .requiredOption('--out <file>', 'merged output: .safetensors (tensor sample) or .png (grid)')
    .option('--nrow <n>', 'images per row of a PNG grid', intArg(1))
    .action(async (shards, flags) => (await import('./commands/merge.js')).mergeCommand(shards, flags));

  calibrationOptions(checkpointOption(program.command('metrics')), 64)
    .description('CRM and IGM of every block (forward order) on a calibration batch')
    .addOption(new Option('--norm <norm>', 'matrix norm').choices(['2', '1', 'fro']).default('2'))
    .addOption(backendOption())
    .action(async (flags) => (await import('./commands/metrics.js')).metricsCommand(flags));

  planCacheOptions(temperatureOption(guidanceOptions(calibrationOptions(checkpointOption(program.command('plan')), 64))))
    .description("the planner's per-block strategy for a model, with reasons; kept in the plan cache, or shipped in a model file with --save-into")
    .addOption(new Option('--objective <objective>', 'minimise wall time on this backend, or depth').choices(['time', 'depth']).default('time'))
    .addOption(new Option('--effort <effort>', 'quick (seconds, as sample --solver auto plans) or thorough').choices(['quick', 'thorough']).default('thorough'))
    .option('--save-into <checkpoint>', "write the model with this plan among the plans in its metadata (key 'plans') to this .safetensors file, atomically: a new file, or the --checkpoint in place")
    .option('--batch <n>', 'calibration batch size (the batch the plan is for)', intArg(1, LIMITS.batch), 8)
    .option('--seed <n>', 'seed of the calibration noise', intArg(0, LIMITS.seed), 1234)
    .addOption(backendOption())
    .action(async (flags) => (await import('./commands/plan.js')).planCommand(flags));

  guidanceOptions(configOptions(program.command('train')))
    .description("train a TarFlow (defaults: the default model's recipe, class-conditional MNIST)")
    .requiredOption('--out-dir <dir>', 'where checkpoints/, samples/ and model.safetensors go')
    .option('--dataset <name>', 'mnist, fashion-mnist, or a folder of PNGs', 'mnist')
    .addOption(new Option('--split <split>', 'dataset split').choices(['train', 'test', 'all']).default('train'))
    .option('--limit <n>', 'use only the first n images', intArg(1, LIMITS.steps))
    .option('--steps <n>', 'optimizer steps', intArg(1, LIMITS.steps))
    .option('--batch <n>', 'batch size', intArg(1, LIMITS.batch))
    .option('--lr <lr>', 'peak learning rate', numberArg(0, true, 10))
    .option('--min-lr <lr>', 'learning rate at the ends of warm-up and cosine', numberArg(0, false, 10))
    .option('--warmup <n>', 'linear warm-up steps', intArg(0, LIMITS.steps))
    .option('--weight-decay <w>', 'AdamW weight decay', numberArg(0, false, 1000))
    .option('--grad-clip <c>', 'global gradient-norm limit (0 = none)', numberArg(0, false, 1e9))
    .option('--label-drop <p>', 'probability of dropping a label (for guidance)', numberArg(0, false, 1))
    .option('--seed <n>', 'seed of initialisation and data order', intArg(0, LIMITS.seed))
    .option('--checkpoint-every <n>', 'steps between checkpoints', intArg(1, LIMITS.steps))
    .option('--keep <n>', 'checkpoints kept', intArg(1))
    .option('--sample-every <n>', 'steps between sample grids (0 = only at the end)', intArg(0, LIMITS.steps))
    .option('--samples-per-class <n>', 'rows of the sample grids', intArg(1, 1000))
    .option('--resume <mode>', "auto (continue from the newest checkpoint if any), yes, no, or a .train.safetensors file", 'auto')
    .addOption(new Option('--backend <name>', 'tfjs backend for training: wasm or cpu (auto = wasm)').choices(['auto', 'wasm', 'cpu']).default('auto'))
    .action(async (flags) => (await import('./commands/train.js')).trainCommand(flags));

  configOptions(program.command('convert'))
    .description('convert a PyTorch checkpoint (.pth) or PyTorch-exported .safetensors to a TarFlow .safetensors')
    .argument('<input>', 'the checkpoint to convert')
    .requiredOption('--out <file>', 'the TarFlow .safetensors file to write')
    .action(async (input, flags) => (await import('./commands/convert.js')).convertCommand(input, flags));

  checkpointOption(program.command('bench'))
    .description('benchmark the solvers side by side, per backend, and write a markdown report (and JSON)')
    .option('--out <file>', 'markdown report to write', 'docs/benchmarks.md')
    .option('--json-out <file>', 'JSON results to write (default: the --out name with .json)')
    .option('--backends <list>', 'comma list of backends (webgpu, wasm, cpu), each measured in its own process (the first one\'s CRM and depth plan are reused by the others)', 'wasm,cpu')
    .option('--repeats <n>', 'timed runs per side-by-side row after a warm-up (default: 3 on wasm, 2 on cpu)', intArg(1, 1000))
    .option('--batch <n>', 'batch of the side-by-side table (default: 8 on wasm, 1 on cpu)', intArg(1, LIMITS.batch))
    .option('--batches <list>', 'batch sizes of the batch-scaling table (default: 1,8,32 on wasm, 1,2 on cpu)')
    .option('--tokens <list>', 'sequence lengths T of the random models (default: 16,49,64,256 on wasm, 16,49 on cpu)')
    .option('--fd-count <n>', 'samples per strategy for FD (0 = no FD; default 64 on wasm, 0 on cpu)', intArg(0, LIMITS.calibration))
    .option('--memory-batch <n>', 'batch of the memory check (default 64; run on wasm only unless --memory-solvers)', intArg(1, LIMITS.batch))
    .option('--memory-solvers <list>', 'solvers of the memory check: sequential, jacobi, gs-jacobi, planner-depth (default: sequential,planner-depth on wasm, none on cpu)')
    .option('--quick', 'a small run: tiny batches, one repeat, T = 16 only')
    .option('--render <json>', 'write the markdown of a saved JSON report (from an earlier run) to --out, measuring nothing')
    .option('--reference <dir>', 'also time the PyTorch references (apple/ml-tarflow, GS-Jacobi) on one CPU thread: an ml-tarflow checkout, or a folder with ml-tarflow/ and GS-Jacobi_for_TarFlow/ (default: $TARFLOW_REFERENCE)')
    .option('--reference-only', 'measure only the section against the references and write it into the existing --out report and its JSON')
    .option('--reference-batches <list>', 'batch sizes of the section against the references (default 1,8,64)')
    .option('--planning-only', 'measure only the planning section (whole-process sample --solver auto vs sequential, wasm and cpu, batches 1, 16, 64) and write it into the --out report')
    .addOption(new Option('--worker-backend <name>').choices(['webgpu', 'wasm', 'cpu']).hideHelp())
    .addOption(new Option('--worker-out <file>').hideHelp())
    .addOption(new Option('--shared <file>').hideHelp())
    .addHelpText('after', `
Each backend runs in its own process, so its peak memory is its own. On a CPU backend a Jacobi pass
costs about as much as the whole sequential loop, so wall time cannot win there; the depth columns
show what a GPU turns into speed. \`pnpm bench\` at the repository root writes docs/benchmarks.md.`)
    .action(async (flags) => (await import('./commands/bench.js')).benchCommand(flags));

  // The shared output flags come last in every command's help.
  for (const cmd of program.commands) common(cmd);
  return program;
}

/** Allocation failures in JavaScript's words, and what they mean to the user. */
const OUT_OF_MEMORY = /Invalid typed array length|Array buffer allocation failed|Invalid array length|Invalid string length/;

/** The message of an error for the user: allocation failures become "not enough memory". */
function userMessage(e: unknown): string {
  if (e instanceof RangeError && OUT_OF_MEMORY.test(e.message)) {
    return 'not enough memory for this run (an allocation failed); use a smaller --batch, --chunk or --count';
  }
  return messageOf(e);
}

/** Runs the program on `argv` (without node and script) and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed the message already; help and version exit 0.
      return e.exitCode === 0 ? 0 : 2;
    }
    const command = program.args[0] ?? '';
    process.stderr.write(`tarflow${command ? ` ${command}` : ''}: error: ${userMessage(e)}\n`);
    if (process.env.TARFLOW_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}
