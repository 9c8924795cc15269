/** What every bridgectl command shares: its shape and where human progress goes. */
/** A `bridgectl <group> <verb>` handler: receives the arguments after the verb. */
export interface Command {
  summary: string;
  run(args: string[]): Promise<void>;
}

/** Human progress goes to stderr so stdout stays parseable. */
export const say = (line: string) => process.stderr.write(`${line}\n`);

/** Signal hooks that report on stderr. */
export const sayOnSignal = {
  onSignal: (signal: string) => say(`${signal}: stopping`),
  onStopFailed: (message: string) => say(`stop failed: ${message}`),
};
