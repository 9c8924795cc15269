/** `bridgectl sidecar serve`: the sidecar in the foreground, configured by flags over the BRIDGE_* environment. */
import { describeFlags } from '../lib/process/env-flags.js';
import { SIDECAR_ENV } from '../sidecar/config.js';
import { serveSidecar } from '../sidecar/main.js';
import { type Command, say } from './command.js';

const serve: Command = {
  summary: `run the API sidecar in the foreground (flags override BRIDGE_* env)\n${describeFlags(SIDECAR_ENV)}`,
  run: (args) => serveSidecar(args, say),
};

export const sidecarCommands: Record<string, Command> = { serve };
