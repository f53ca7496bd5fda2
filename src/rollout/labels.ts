/** Labels and annotations Fledge puts on the objects it owns; the plugin and the controller read the same ones. */
export const LABEL_POD_TEMPLATE_HASH = 'fledge.dev/pod-template-hash';
export const LABEL_ROLLOUT = 'fledge.dev/rollout';
export const ANNOTATION_REVISION = 'fledge.dev/revision';
export const ANNOTATION_SCALE_DOWN_AT = 'fledge.dev/scale-down-at';
/** `step` or `background` on AnalysisRuns. */
export const LABEL_ANALYSIS_KIND = 'fledge.dev/analysis';
