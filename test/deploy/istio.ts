// The Istio/Kubernetes manifests (deploy/kubernetes/istio rendered by the real
// `kubectl kustomize`, with the mesh config and the optional
// RequestAuthentication beside it) agree with each other and with the
// service: names, namespaces, selectors, ports, probes, grace period, provider
// name, security context; the service's loadConfig accepts the Deployment's
// environment. Each check is also shown to reject a broken copy.
import t from 'tap';
import { parseDockerfile } from './fixtures/dockerfile.js';
import { deploymentEnvironment, istioPathMatches, istioProblems, type IstioContext, type Manifest } from './fixtures/istio.js';
import { kubectlMissing, kustomize } from './fixtures/kubernetes.js';
import { acceptedEnvNames, clone, loadServiceConfig, numericDefault, parseYamlDocuments, readRepoFile, repoFileExists, serviceSettings, type Doc } from './fixtures/repo.js';

const OVERLAY = 'deploy/kubernetes/istio';
const REQUIRED_FILES = [
  'deploy/kubernetes/base/kustomization.yaml',
  'deploy/kubernetes/base/deployment.yaml',
  'deploy/kubernetes/base/service.yaml',
  'deploy/kubernetes/base/pdb.yaml',
  'deploy/kubernetes/base/hpa.yaml',
  `${OVERLAY}/kustomization.yaml`,
  `${OVERLAY}/authorization-policy.yaml`,
  `${OVERLAY}/mesh-config/istio-operator.yaml`,
  `${OVERLAY}/request-authentication.yaml`,
];
const BESIDE = [`${OVERLAY}/mesh-config/istio-operator.yaml`, `${OVERLAY}/request-authentication.yaml`];

const missing = kubectlMissing();
const manifests: Manifest[] = missing
  ? []
  : [
      ...kustomize(...OVERLAY.split('/')).map((doc) => ({ file: OVERLAY, doc })),
      ...BESIDE.flatMap((file) => parseYamlDocuments(readRepoFile(file), file).map((doc) => ({ file, doc }))),
    ];

const settings = await serviceSettings();
const imageUser = parseDockerfile(readRepoFile('Dockerfile')).at(-1)!.instructions.filter((i) => i.keyword === 'USER').at(-1)?.words[0];
const context: IstioContext = {
  namespace: 'token-exchange-authz',
  workloadNamespace: 'mcp',
  grpcPort: await numericDefault('GRPC_PORT'),
  httpPort: await numericDefault('HTTP_PORT'),
  shutdownGraceMs: await numericDefault('SHUTDOWN_GRACE_MS'),
  authorizationServerTimeoutMs: await numericDefault('AUTHORIZATION_SERVER_TIMEOUT_MS'),
  acceptedEnv: await acceptedEnvNames(),
  secretEnv: new Set([...settings.values()].filter((s) => s.secret).map((s) => s.env)),
  imageVersion: JSON.parse(readRepoFile('package.json')).version,
  imageUid: imageUser === undefined ? undefined : Number(imageUser.split(':')[0]),
};

const find = (all: Manifest[], kind: string): Doc =>
  // The AuthorizationPolicy checked here is the CUSTOM one, on the protected workload.
  all.find((m) => m.doc.kind === kind && (kind !== 'AuthorizationPolicy' || m.doc.metadata?.namespace === context.workloadNamespace))!.doc;
const podSpec = (all: Manifest[]): Doc => find(all, 'Deployment').spec.template.spec;
const containerOf = (all: Manifest[]): Doc => podSpec(all).containers[0];

t.test('every manifest file is there and parses', { skip: missing }, async (t) => {
  for (const file of REQUIRED_FILES) t.ok(repoFileExists(file), file);
  t.same(
    [...new Set(manifests.map((m) => m.doc.kind))].sort(),
    ['AuthorizationPolicy', 'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'IstioOperator', 'Namespace', 'NetworkPolicy', 'PeerAuthentication', 'PodDisruptionBudget', 'RequestAuthentication', 'Service', 'ServiceAccount'],
  );
});

t.test('the manifests agree with each other and with the service defaults', { skip: missing }, async (t) => {
  t.same(istioProblems(manifests, context), []);
  t.equal(context.grpcPort, 9001, 'gRPC default');
  t.equal(context.httpPort, 9002, 'HTTP default');
  t.equal(context.shutdownGraceMs, 20000, 'SHUTDOWN_GRACE_MS default');
});

t.test("the service's own loadConfig accepts the Deployment's environment", { skip: missing }, async (t) => {
  const env = deploymentEnvironment(manifests);
  const { problems } = await loadServiceConfig(env, { [env.CLIENT_SECRET_FILE!]: 'from-the-secret\n' });
  t.same(problems, []);
  const { problems: broken } = await loadServiceConfig({ ...env, AUTHORIZATION_SERVER_URL: 'http://login.example.com/realms/mesh' }, { [env.CLIENT_SECRET_FILE!]: 's' });
  t.match(broken.join('\n'), /AUTHORIZATION_SERVER_URL: http:\/\/ is allowed only for loopback/, 'negative: the loader does refuse a bad environment');
});

t.test('Istio path patterns', async (t) => {
  t.ok(istioPathMatches('/.well-known/oauth-protected-resource*', '/.well-known/oauth-protected-resource/mcp'));
  t.ok(istioPathMatches('*/healthz', '/x/healthz'));
  t.notOk(istioPathMatches('/healthz', '/healthz/x'));
});

t.test('each broken copy is rejected', { skip: missing }, async (t) => {
  const problemsWith = (change: (all: Manifest[]) => void): string => {
    const copy = clone(manifests);
    change(copy);
    return istioProblems(copy, context).join('\n');
  };
  const cases: Array<[string, (all: Manifest[]) => void, RegExp]> = [
    ['gRPC Service port without appProtocol', (all) => (delete find(all, 'Service').spec.ports[0].appProtocol), /Istio would speak HTTP\/1\.1/],
    ['gRPC Service port renamed', (all) => (find(all, 'Service').spec.ports[0].name = 'tcp-authz'), /not named grpc/],
    ['Service targeting a port the container lacks', (all) => (find(all, 'Service').spec.ports[0].targetPort = 'grpc-authz'), /no port targets the gRPC port 9001/],
    ['Service selector not matching the pods', (all) => (find(all, 'Service').spec.selector = { app: 'token-exchange' }), /Service: selector does not match/],
    ['provider name mismatch', (all) => (find(all, 'AuthorizationPolicy').spec.provider.name = 'token-exchange'), /provider token-exchange is not in meshConfig\.extensionProviders/],
    ['provider in another namespace', (all) => (find(all, 'IstioOperator').spec.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.service = 'token-exchange-authz.default.svc.cluster.local'), /is not token-exchange-authz\.token-exchange-authz\.svc\.cluster\.local/],
    ['provider on the HTTP port', (all) => (find(all, 'IstioOperator').spec.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.port = 9002), /port 9002 is not the Service's gRPC port/],
    ['provider without timeout', (all) => delete find(all, 'IstioOperator').spec.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.timeout, /timeout undefined is unset/],
    ['provider timeout below the service timeout', (all) => (find(all, 'IstioOperator').spec.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.timeout = '1200ms'), /not above AUTHORIZATION_SERVER_TIMEOUT_MS 1500/],
    ['provider failing open', (all) => (find(all, 'IstioOperator').spec.meshConfig.extensionProviders[0].envoyExtAuthzGrpc.failOpen = true), /failOpen would forward/],
    ['policy action ALLOW', (all) => (find(all, 'AuthorizationPolicy').spec.action = 'ALLOW'), /action ALLOW is not CUSTOM/],
    ['policy selecting the authz service itself', (all) => (find(all, 'AuthorizationPolicy').spec.selector.matchLabels = { app: 'token-exchange-authz' }), /selects token-exchange-authz itself/],
    ['policy without selector', (all) => delete find(all, 'AuthorizationPolicy').spec.selector, /no selector/],
    ['RFC 9728 metadata not skipped', (all) => (find(all, 'AuthorizationPolicy').spec.rules[0].to[0].operation.notPaths = ['/healthz', '/readyz']), /oauth-protected-resource is not in notPaths/],
    ['/mcp skipped', (all) => find(all, 'AuthorizationPolicy').spec.rules[0].to[0].operation.notPaths.push('/mcp*'), /\/mcp would skip the check/],
    ['forwardOriginalToken missing', (all) => delete find(all, 'RequestAuthentication').spec.jwtRules[0].forwardOriginalToken, /forwardOriginalToken is not true/],
    ['RequestAuthentication issuer differs', (all) => (find(all, 'RequestAuthentication').spec.jwtRules[0].issuer = 'https://login.example.com/realms/other'), /issuer .* is not AUTHORIZATION_SERVER_URL/],
    ['grace period not above SHUTDOWN_GRACE_MS', (all) => (podSpec(all).terminationGracePeriodSeconds = 20), /terminationGracePeriodSeconds 20 is not above/],
    ['grace period ignoring preStop', (all) => (podSpec(all).terminationGracePeriodSeconds = 24), /terminationGracePeriodSeconds 24 is not above preStop 5s/],
    ['readiness on /healthz', (all) => (containerOf(all).readinessProbe.httpGet.path = '/healthz'), /readinessProbe is not GET \/readyz/],
    ['liveness on the gRPC port', (all) => (containerOf(all).livenessProbe.httpGet.port = 'grpc'), /livenessProbe is not GET \/healthz on 9002/],
    ['readOnlyRootFilesystem misspelled', (all) => ((containerOf(all).securityContext.readOnlyRootFileSystem = true), delete containerOf(all).securityContext.readOnlyRootFilesystem), /readOnlyRootFilesystem is not true/],
    ['privilege escalation allowed', (all) => (containerOf(all).securityContext.allowPrivilegeEscalation = true), /allowPrivilegeEscalation is not false/],
    ['capabilities kept', (all) => (containerOf(all).securityContext.capabilities.drop = ['NET_RAW']), /do not drop ALL/],
    ['no seccomp profile', (all) => (delete podSpec(all).securityContext.seccompProfile, delete containerOf(all).securityContext.seccompProfile), /seccompProfile is not RuntimeDefault/],
    ['runAsNonRoot off', (all) => (containerOf(all).securityContext.runAsNonRoot = false), /runAsNonRoot is not true/],
    ['runAsUser not the image user', (all) => (podSpec(all).securityContext.runAsUser = 1001), /runAsUser 1001 is not the image's USER 1000/],
    ['no resources', (all) => delete containerOf(all).resources, /resources need/],
    ['secret in the ConfigMap', (all) => (find(all, 'ConfigMap').data.CLIENT_SECRET = 'x'), /secret CLIENT_SECRET is given as a plain value/],
    ['a misspelled setting', (all) => (find(all, 'ConfigMap').data.EXCHANGE_AUDINCE = 'x'), /EXCHANGE_AUDINCE is not a setting/],
    ['secret file path not mounted', (all) => (containerOf(all).volumeMounts[0].mountPath = '/secrets'), /CLIENT_SECRET_FILE .* is not a file of a read-only Secret volume/],
    ['image tag latest', (all) => (containerOf(all).image = 'ghcr.io/example/token-exchange-authz:latest'), /image tag latest is not the package version/],
    ['wrong namespace', (all) => (find(all, 'PodDisruptionBudget').metadata.namespace = 'default'), /PodDisruptionBudget token-exchange-authz is in namespace default/],
    ['PDB blocking drains', (all) => (find(all, 'PodDisruptionBudget').spec.minAvailable = 2), /minAvailable 2 is not below replicas 2/],
    ['HPA scaling something else', (all) => (find(all, 'HorizontalPodAutoscaler').spec.scaleTargetRef.name = 'mcp-server'), /scales Deployment mcp-server/],
    ['a missing manifest', (all) => all.splice(all.findIndex((m) => m.doc.kind === 'HorizontalPodAutoscaler'), 1), /expected one HorizontalPodAutoscaler, found 0/],
  ];
  for (const [name, change, pattern] of cases) t.match(problemsWith(change), pattern, name);
});
