import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { program } from '../../../cli/program.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** Every `cairn` command the README shows (`npm run cairn -- …`, `npx cairn …`), as words, quotes removed. */
function readmeCommands(): string[][] {
  const commands: string[][] = [];
  for (const match of README.matchAll(/(?:npm run cairn --|npx cairn) ([^`|&#\n]*)/g)) {
    const words = [...match[1]!.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
    commands.push(words);
  }
  return commands;
}

/** What is wrong with a command line: an unknown command or an option its command does not have. */
function problems(words: string[]): string[] {
  let command: Command = program;
  let i = 0;
  // Options of cairn itself (`--token-file <path>`) may come before the command.
  while (words[i]?.startsWith('-')) {
    if (['--help', '-h', '--version', '-V'].includes(words[i]!)) return [];
    const option = program.options.find((o) => o.long === words[i] || o.short === words[i]);
    if (!option) return [`cairn: unknown option ${words[i]}`];
    i += option.required || option.optional ? 2 : 1;
  }
  for (; i < words.length && !words[i]!.startsWith('-'); i++) {
    const sub = command.commands.find((c) => c.name() === words[i] || c.aliases().includes(words[i]!));
    if (!sub) break;
    command = sub;
  }
  if (command === program) return [`no command ${words[i]}`];
  const options: Option[] = [...command.options, ...program.options];
  const known = (flag: string) =>
    ['--help', '-h', '--version', '-V'].includes(flag) || options.some((o) => o.long === flag || o.short === flag);
  return words
    .slice(i)
    .filter((w) => w.startsWith('-'))
    .map((w) => w.split('=')[0]!)
    .filter((flag) => !known(flag))
    .map((flag) => `${command.name()}: unknown option ${flag}`);
}

describe('the README', () => {
  const commands = readmeCommands();

  it('shows cairn commands', () => {
    expect(commands.length).toBeGreaterThan(20);
  });

  it.each(commands.map((c) => [c.join(' '), c] as const))('shows a command cairn has: cairn %s', (_, words) => {
    expect(problems(words)).toEqual([]);
  });

  it('would catch a command or an option cairn does not have', () => {
    expect(problems(['run', 'penguins', '--no-cahce'])).toEqual(['run: unknown option --no-cahce']);
    expect(problems(['deploy', 'x'])).toEqual(['no command deploy']);
    expect(problems(['--token-file', 'f', 'approve', 'r', '--by', 'x'])).toEqual(['approve: unknown option --by']);
    expect(problems(['--tokn-file', 'f', 'approve', 'r'])).toEqual(['cairn: unknown option --tokn-file']);
  });
});
