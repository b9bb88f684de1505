import test from 'ava';
import { Command } from 'commander';
import { COMMAND_MODULES, registerCommands } from './index.js';

const names = (p: Command) => p.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();

test('each command is registered by the module the table names, and no other', async (t) => {
  for (const [name, load] of Object.entries(COMMAND_MODULES)) {
    const program = new Command();
    (await load()).default(program);
    t.true(names(program).includes(name), `${name} is not registered by its module`);
    for (const other of names(program))
      t.is(COMMAND_MODULES[other], load, `${other} is registered but not in the table`);
  }
});

test('a command name registers its module only; anything else registers them all', async (t) => {
  const server = new Command();
  await registerCommands(server, 'server');
  t.deepEqual(names(server), ['server']);
  const unmount = new Command();
  await registerCommands(unmount, 'unmount');
  t.deepEqual(names(unmount), ['cap', 'link', 'mount', 'status', 'umount', 'unmount']);
  for (const arg of [undefined, '--help', 'nonsense']) {
    const all = new Command();
    await registerCommands(all, arg);
    t.deepEqual(names(all), Object.keys(COMMAND_MODULES).sort());
  }
});
