/**
 * A task run every intervalMs until stopped: the next run is scheduled only after the last one ended,
 * so a slow run (an API server that stalls) never overlaps the next, and a failed run is reported and
 * tried again on the next tick instead of ending the loop.
 */
export class RepeatingTask {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly run: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    const loop = async () => {
      try {
        await this.run();
      } catch (err) {
        this.onError(err);
      }
      if (!this.stopped) this.timer = setTimeout(loop, this.intervalMs);
    };
    this.timer = setTimeout(loop, this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
