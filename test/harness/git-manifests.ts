/**
 * A Rollout as a team keeps it in Git: block style with a flow-style selector, and comments, so a write-back test can
 * check that only the image changes. `extra` is appended under spec (already indented YAML lines).
 */
export function rolloutInGit(name: string, image: string, extra = ''): string {
  return `# ${name}: owned by team checkout
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: ${name}}
spec:
  replicas: 2
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - name: app
        image: ${image}   # bumped by the release pipeline
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {}}]
${extra}`;
}
