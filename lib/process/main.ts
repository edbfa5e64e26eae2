/**
 * Errors a user fixes by changing a setting, a request or starting a service (they carry `userFacing: true`):
 * printed as one line, no stack.
 */
export function isUserFacing(err: unknown): err is Error {
  return err instanceof Error && (err as { userFacing?: boolean }).userFacing === true;
}

/**
 * Runs an entry point. A configuration or reachability problem prints one line and exits 2 (or the error's own
 * `exitCode`: 4 for a refused credential); anything else prints the error with its stack and exits 1.
 */
export function runMain(program: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (isUserFacing(err)) {
      process.stderr.write(`${program}: ${err.message}\n`);
      process.exit((err as { exitCode?: number }).exitCode ?? 2);
    }
    process.stderr.write(`${program}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
