// Started by `up({ownerPid})` (the test run's global setup): once the owner process is gone, however it
// ended (even SIGKILL, where no handler runs), stops every process of the cluster. `down` stops the
// watchdog first, so a normal teardown never races it.
//   node test/cluster/watchdog.ts <stateDir> <ownerPid> <ownerStartTime>
import { down } from './cluster.ts';
import { isAlive, processStartTime } from './procfs.ts';
import { sleep } from './lock.ts';

const [stateDir, pidText, startTime] = process.argv.slice(2);
const owner = Number(pidText);
if (!stateDir || !Number.isInteger(owner)) {
  process.stderr.write('usage: watchdog.ts <stateDir> <ownerPid> [<ownerStartTime>]\n');
  process.exit(2);
}

const ownerAlive = () => isAlive(owner) && (!startTime || processStartTime(owner) === startTime);

// SIGTERM from `down` ends the watchdog itself; nothing else to do.
process.on('SIGTERM', () => process.exit(0));

while (ownerAlive()) await sleep(1_000);
process.stderr.write(`[watchdog] owner pid ${owner} is gone: stopping the cluster in ${stateDir}\n`);
// down() stops everything but the caller (it only drops the watchdog's own pid file).
await down({ stateDir, log: (l) => process.stderr.write(`[watchdog] ${l}\n`) });
