export async function runWatch(_o: unknown): Promise<number> {
  process.stderr.write('stunnel-doctor watch: not built yet\n');
  return 2;
}
