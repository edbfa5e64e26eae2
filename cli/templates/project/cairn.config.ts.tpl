// The project's pipelines: Cairn's workers, CLI and servers load this file (CAIRN_PROJECT, or the working directory).
import { defineProject } from 'cairn';
import { penguinReport } from './pipelines/penguin-report.js';
import { penguinSpecies } from './pipelines/penguin-species.js';

export default defineProject({ pipelines: [penguinReport, penguinSpecies] });
