export { isRegression, judgeMetric, JUDGE_DEFAULTS, type Direction, type Dropped, type JudgeOptions, type MetricClass, type MetricJudgement } from './judge.js';
export { mannWhitney, type MannWhitneyResult } from './mann-whitney.js';
export { scoreMetrics, type Scorecard, type ScoredMetric } from './score.js';
export { sequentialCountTest, SEQUENTIAL_DEFAULTS, type CountIncrement, type Counts, type SequentialOptions, type SequentialResult } from './sequential.js';
export { summarize, type Summary } from './summary.js';
