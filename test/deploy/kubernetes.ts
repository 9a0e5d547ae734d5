// deploy/kubernetes: the real `kubectl kustomize` renders the base, the Istio
// overlay, the Redis overlay and Istio + the Redis component; every rendered
// object validates against the Kubernetes OpenAPI schema (npm
// kubernetes-models) or, for Istio kinds, against their CRD fields; the mesh
// config forms agree; and the security properties hold. Each check is also
// shown to reject a broken copy. In CI a missing kubectl fails.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { istioSchemaProblems, fieldProblems, MESH_CONFIG } from './fixtures/istio-schema.js';
import { kubernetesProblems, redisProblems, type KubernetesContext } from './fixtures/kubernetes-checks.js';
import { isKubernetesKind, kubectlMissing, kustomize, kustomizeCombination, schemaProblem, unknownFieldProblems } from './fixtures/kubernetes.js';
import { acceptedEnvNames, clone, loadServiceConfig, numericDefault, parseYaml, parseYamlDocuments, readRepoFile, repoPath, SHARED_CACHE_SETTINGS, type Doc } from './fixtures/repo.js';

const NAME = 'token-exchange-authz';
const NAMESPACE = 'token-exchange-authz';
const GATEWAY = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } }, podSelector: { matchLabels: { istio: 'ingressgateway' } } };
const CALLERS = { namespaceSelector: { matchLabels: { 'token-exchange-authz/callers': 'true' } } };
const PROMETHEUS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } };
const PRINCIPALS = ['cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account', 'cluster.local/ns/mcp/sa/mcp-server'];

const missing = kubectlMissing();

const context: KubernetesContext = {
  namespace: NAMESPACE,
  workloadNamespace: 'mcp',
  name: NAME,
  grpcPort: await numericDefault('GRPC_PORT'),
  httpPort: await numericDefault('HTTP_PORT'),
  podSecurity: 'restricted',
  proxyPeers: [GATEWAY, CALLERS],
  metricsPeer: PROMETHEUS,
};
const istioContext: KubernetesContext = { ...context, podSecurity: 'privileged', principals: PRINCIPALS };
const redisContext = { name: NAME, redisName: `${NAME}-redis` };

const renders: Record<string, Doc[]> = missing
  ? {}
  : {
      base: kustomize('deploy', 'kubernetes', 'base'),
      istio: kustomize('deploy', 'kubernetes', 'istio'),
      redis: kustomize('deploy', 'kubernetes', 'redis'),
      'istio + redis component': kustomizeCombination(['deploy/kubernetes/istio'], ['deploy/kubernetes/redis/component']),
    };
const deploymentOf = (docs: Doc[], name = NAME): Doc => docs.find((d) => d.kind === 'Deployment' && d.metadata.name === name)!;
const containerOf = (docs: Doc[], name = NAME): Doc => deploymentOf(docs, name).spec.template.spec.containers[0];
const networkPolicy = (docs: Doc[]): Doc => docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.name === NAME)!;
const allowPolicy = (docs: Doc[]): Doc => docs.find((d) => d.kind === 'AuthorizationPolicy' && d.spec.action === 'ALLOW')!;

t.test('each directory renders with kubectl kustomize, and every object validates against its schema', { skip: missing }, async (t) => {
  t.same(Object.keys(renders), ['base', 'istio', 'redis', 'istio + redis component']);
  const kubernetesObjects = new Map<string, { label: string; doc: Doc }>();
  for (const [name, docs] of Object.entries(renders)) {
    t.ok(docs.length >= 8, `${name}: ${docs.length} objects`);
    for (const doc of docs) {
      const label = `${name}: ${doc.kind} ${doc.metadata?.namespace ?? ''}/${doc.metadata?.name}`;
      if (isKubernetesKind(doc)) {
        t.equal(await schemaProblem(doc), '', `${label} validates against the Kubernetes OpenAPI schema`);
        kubernetesObjects.set(JSON.stringify(doc), { label, doc });
      } else t.same(istioSchemaProblems(doc), [], `${label} validates against the Istio CRD fields`);
    }
  }
  // Unknown fields (which the runtime schema lets through), with one misspelled copy to show they are found.
  const broken = clone(deploymentOf(renders.base!));
  broken.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
  const unknown = unknownFieldProblems([...kubernetesObjects.values(), { label: 'negative: readOnlyRootFileSystem', doc: broken }]);
  t.same([...unknown.keys()], ['negative: readOnlyRootFileSystem'], 'no rendered object has an unknown field');
  t.match(unknown.get('negative: readOnlyRootFileSystem')?.join('\n'), /readOnlyRootFileSystem.*does not exist in type 'ISecurityContext'/, 'negative: a misspelled field is reported');
});

t.test('the schema checks reject broken objects', { skip: missing }, async (t) => {
  const deployment = clone(deploymentOf(renders.base!));
  deployment.spec.replicas = 'two';
  t.match(await schemaProblem(deployment), /replicas/, 'Kubernetes: a string where an integer belongs');
  const service = clone(renders.base!.find((d) => d.kind === 'Service')!);
  delete service.spec.ports[0].port;
  t.match(await schemaProblem(service), /port/, 'Kubernetes: a required field missing');
  const policy = (change: (spec: Doc) => void): string => {
    const copy = clone(allowPolicy(renders.istio!));
    change(copy.spec);
    return istioSchemaProblems(copy).join('\n');
  };
  t.match(policy((s) => (s.rules[0].from[0].source.principal = s.rules[0].from[0].source.principals)), /unknown field "principal"/, 'Istio: a misspelled field');
  t.match(policy((s) => (s.rules[0].to[0].operation.ports = [9001])), /expected a string/, 'Istio: ports are strings');
  t.match(policy((s) => (s.rules[0].to[0].operation.ports = ['grpc'])), /not a port number string/, 'Istio: ports are numbers');
  t.match(policy((s) => (s.action = 'Allow')), /"Allow" is not one of ALLOW, DENY, AUDIT, CUSTOM/, 'Istio: enum values are exact');
  t.match(policy((s) => (s.provider = { name: 'x' })), /provider is only allowed with action CUSTOM/, 'Istio: provider only with CUSTOM');
  const custom = clone(renders.istio!.find((d) => d.kind === 'AuthorizationPolicy' && d.spec.action === 'CUSTOM')!);
  delete custom.spec.provider;
  t.match(istioSchemaProblems(custom).join('\n'), /a CUSTOM policy needs provider\.name/);
  const peer = clone(renders.istio!.find((d) => d.kind === 'PeerAuthentication')!);
  peer.spec.mtls.mode = 'STRICTEST';
  t.match(istioSchemaProblems(peer).join('\n'), /not one of UNSET, DISABLE, PERMISSIVE, STRICT/);
  t.match(istioSchemaProblems({ ...peer, apiVersion: 'security.istio.io/v2' }).join('\n'), /apiVersion security\.istio\.io\/v2/);
});

t.test('the mesh config forms (IstioOperator, istiod Helm values, istio ConfigMap) register the same valid provider', { skip: missing }, async (t) => {
  const dir = 'deploy/kubernetes/istio/mesh-config';
  const operator = parseYaml(readRepoFile(dir, 'istio-operator.yaml'), 'istio-operator.yaml');
  const values = parseYaml(readRepoFile(dir, 'istiod-values.yaml'), 'istiod-values.yaml');
  const configMap = parseYaml(readRepoFile(dir, 'istio-configmap.yaml'), 'istio-configmap.yaml');
  t.same(istioSchemaProblems(operator), [], 'IstioOperator fields');
  t.same(Object.keys(values), ['meshConfig'], 'Helm values: meshConfig only');
  t.same(fieldProblems(values.meshConfig, MESH_CONFIG, 'values.meshConfig'), [], 'Helm values: MeshConfig fields');
  t.equal(await schemaProblem(configMap), '', 'ConfigMap: Kubernetes schema');
  t.same([configMap.metadata.name, configMap.metadata.namespace, Object.keys(configMap.data)], ['istio', 'istio-system', ['mesh']], 'the ConfigMap istiod reads');
  const mesh = parseYaml(configMap.data.mesh, 'istio ConfigMap data.mesh');
  t.same(fieldProblems(mesh, MESH_CONFIG, 'mesh'), [], 'ConfigMap: MeshConfig fields');
  t.same(values.meshConfig, operator.spec.meshConfig, 'Helm values = IstioOperator meshConfig');
  t.same(mesh, operator.spec.meshConfig, 'ConfigMap mesh = IstioOperator meshConfig');

  const [provider] = operator.spec.meshConfig.extensionProviders;
  const service = renders.istio!.find((d) => d.kind === 'Service' && d.metadata.name === NAME)!;
  t.equal(provider.envoyExtAuthzGrpc.service, `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`, 'the provider calls the rendered Service');
  t.equal(provider.envoyExtAuthzGrpc.port, service.spec.ports.find((p: Doc) => p.name === 'grpc').port, '… on its grpc port');
  const customPolicies = renders.istio!.filter((d) => d.kind === 'AuthorizationPolicy' && d.spec.action === 'CUSTOM');
  t.same(customPolicies.map((p) => p.spec.provider.name), [provider.name], 'the CUSTOM policy names this provider');
  t.notOk(renders.istio!.some((d) => d.kind === 'IstioOperator' || (d.kind === 'ConfigMap' && d.metadata.name === 'istio')), 'the mesh config is not applied by the overlay (it would replace a cluster\'s)');

  t.match(fieldProblems({ extensionProviders: [{ name: 'x', envoyExtAuthzGrpc: { service: 's', port: '9001' } }] }, MESH_CONFIG, 'mesh').join('\n'), /port: expected a uint32/, 'negative: a port as a string');
  t.match(fieldProblems({ extensionProviders: [{ name: 'x', envoyExtAuthzGrpc: { service: 's', port: 9001, failopen: false } }] }, MESH_CONFIG, 'mesh').join('\n'), /unknown field "failopen"/, 'negative: a misspelled field');
  t.match(fieldProblems({ extensionProviders: [{ name: 'x', envoyExtAuthzGrpc: { service: 's', port: 9001, timeout: 2 } }] }, MESH_CONFIG, 'mesh').join('\n'), /expected a duration/, 'negative: a duration without unit');
});

t.test('the security properties hold in every rendering', { skip: missing }, async (t) => {
  t.same(kubernetesProblems(renders.base!, context), [], 'base');
  t.same(kubernetesProblems(renders.redis!, context), [], 'redis overlay');
  t.same(kubernetesProblems(renders.istio!, istioContext), [], 'istio overlay');
  t.same(kubernetesProblems(renders['istio + redis component']!, istioContext), [], 'istio + redis component');
  for (const name of ['redis', 'istio + redis component']) t.same(redisProblems(renders[name]!, redisContext), [], `${name}: Redis wiring`);
  const compose = parseYaml(readRepoFile('docker-compose.yml'));
  t.equal(containerOf(renders.redis!, `${NAME}-redis`).image, compose.services.redis.image, 'the same pinned Redis image as docker-compose.yml');

  // Spelled out on the rendered objects:
  const service = renders.base!.find((d) => d.kind === 'Service')!;
  t.same(service.spec.ports.map((p: Doc) => [p.name, p.port, p.appProtocol]), [['grpc', context.grpcPort, 'grpc'], ['http', context.httpPort, 'http']], 'Service ports: grpc (appProtocol grpc) and http');
  t.same(allowPolicy(renders.istio!).spec.rules.flatMap((r: Doc) => r.from.flatMap((f: Doc) => f.source.principals)).sort(), PRINCIPALS, 'the ALLOW policy names only the gateway and the sidecar');
  t.same(networkPolicy(renders.base!).spec.ingress[0].from, [GATEWAY, CALLERS], 'the gRPC port admits only the gateway and labelled caller namespaces');
});

t.test('only the image and the identity-provider settings need editing', { skip: missing }, async (t) => {
  const kustomization = parseYaml(readRepoFile('deploy', 'kubernetes', 'base', 'kustomization.yaml'));
  t.same(kustomization.images.map((i: Doc) => i.name), [NAME], 'one image entry, for the placeholder');
  t.equal(kustomization.images[0].newTag, JSON.parse(readRepoFile('package.json')).version, 'its tag is the package version');
  const source = parseYamlDocuments(readRepoFile('deploy', 'kubernetes', 'base', 'deployment.yaml'))[0]!;
  t.equal(source.spec.template.spec.containers[0].image, NAME, 'deployment.yaml carries the bare placeholder');
  for (const [name, docs] of Object.entries(renders)) {
    const images = docs.flatMap((d) => (d.kind === 'Deployment' ? d.spec.template.spec.containers.map((c: Doc) => c.image) : []));
    t.ok(images.includes(`${kustomization.images[0].newName}:${kustomization.images[0].newTag}`), `${name}: the service image is the kustomization's`);
    t.notOk(images.includes(NAME), `${name}: no placeholder left`);
  }

  // Do what the README says on a copy, and compare: nothing else changes.
  const copy = mkdtempSync(join(tmpdir(), 'kube-edit-'));
  try {
    cpSync(repoPath('deploy', 'kubernetes'), join(copy, 'kubernetes'), { recursive: true });
    const kustomizationPath = join(copy, 'kubernetes', 'base', 'kustomization.yaml');
    const edited = YAML.parseDocument(readFileSync(kustomizationPath, 'utf8'));
    edited.setIn(['images', 0, 'newName'], 'registry.acme.test/platform/token-exchange-authz');
    edited.setIn(['images', 0, 'newTag'], '9.9.9');
    writeFileSync(kustomizationPath, edited.toString());
    const settingsPath = join(copy, 'kubernetes', 'base', 'settings.env');
    writeFileSync(settingsPath, readFileSync(settingsPath, 'utf8').replace('https://login.example.com/realms/mesh', 'https://idp.acme.test/realms/prod').replace('CLIENT_ID=mcp-gateway', 'CLIENT_ID=acme-gateway'));
    const { execFileSync } = await import('node:child_process');
    const rendered = parseYamlDocuments(execFileSync('kubectl', ['kustomize', join(copy, 'kubernetes', 'base')], { encoding: 'utf8' }));
    t.equal(containerOf(rendered).image, 'registry.acme.test/platform/token-exchange-authz:9.9.9', 'the new image is used');
    const configMap = rendered.find((d) => d.kind === 'ConfigMap')!;
    t.same([configMap.data.AUTHORIZATION_SERVER_URL, configMap.data.CLIENT_ID], ['https://idp.acme.test/realms/prod', 'acme-gateway'], 'the new settings are used');
    const original = renders.base!.find((d) => d.kind === 'ConfigMap')!;
    t.not(configMap.metadata.name, original.metadata.name, 'a settings change renames the ConfigMap (the pods roll)');
    const normalise = (docs: Doc[]): string =>
      JSON.stringify(docs, (key, value) => (key === 'image' || key === 'data' ? '<edited>' : typeof value === 'string' && value.startsWith(`${NAME}-`) && /-[a-z0-9]{10}$/.test(value) ? '<hashed name>' : value));
    t.equal(normalise(rendered), normalise(renders.base!), 'nothing else differs');
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

t.test("the service's settings: real settings only, and the loader accepts the base's", { skip: missing }, async (t) => {
  const accepted = new Set([...(await acceptedEnvNames()), ...SHARED_CACHE_SETTINGS]);
  for (const [name, docs] of Object.entries(renders)) {
    const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith(NAME))!;
    const names = [...Object.keys(configMap.data), ...(containerOf(docs).env ?? []).map((e: Doc) => e.name)];
    t.same(names.filter((n) => !accepted.has(n)), [], `${name}: every variable is a setting of the service`);
  }
  const env: Record<string, string> = { ...renders.base!.find((d) => d.kind === 'ConfigMap')!.data };
  for (const entry of containerOf(renders.base!).env) env[entry.name] = entry.value;
  const { problems } = await loadServiceConfig(env, { [env.CLIENT_SECRET_FILE!]: 'from-the-secret\n' });
  t.same(problems, [], "the service's loadConfig accepts the base's environment");
  t.same(Object.keys(parseYamlDocuments(readRepoFile('deploy', 'kubernetes', 'base', 'kustomization.yaml'))[0]!.configMapGenerator[0]), ['name', 'envs'], 'settings come from settings.env only');
});

t.test('each broken copy is rejected', { skip: missing }, async (t) => {
  const check = (render: string, ctx: KubernetesContext, change: (docs: Doc[]) => void): string => {
    const copy = clone(renders[render]!);
    change(copy);
    return kubernetesProblems(copy, ctx).join('\n');
  };
  const base = (change: (docs: Doc[]) => void): string => check('base', context, change);
  const istio = (change: (docs: Doc[]) => void): string => check('istio', istioContext, change);
  const redis = (change: (docs: Doc[]) => void): string => {
    const copy = clone(renders.redis!);
    change(copy);
    return redisProblems(copy, redisContext).join('\n');
  };
  const pod = (docs: Doc[], name = NAME): Doc => deploymentOf(docs, name).spec.template.spec;
  const cases: Array<[string, () => string, RegExp]> = [
    ['no Namespace', () => base((d) => d.splice(d.findIndex((x) => x.kind === 'Namespace'), 1)), /expected the one Namespace token-exchange-authz, found none/],
    ['Pod Security not enforced', () => base((d) => delete d.find((x) => x.kind === 'Namespace')!.metadata.labels['pod-security.kubernetes.io/enforce']), /enforce is not restricted/],
    ['an object in another namespace', () => base((d) => (d.find((x) => x.kind === 'HorizontalPodAutoscaler')!.metadata.namespace = 'default')), /HorizontalPodAutoscaler token-exchange-authz: namespace default/],
    ['a Secret in the output', () => base((d) => d.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: NAMESPACE } })), /a Secret is rendered/],
    ['one replica', () => base((d) => (deploymentOf(d).spec.replicas = 1)), /replicas 1 is not 2/],
    ['no spreading across nodes', () => base((d) => (pod(d).topologySpreadConstraints = pod(d).topologySpreadConstraints.filter((c: Doc) => c.topologyKey !== 'kubernetes.io/hostname'))), /no topologySpreadConstraints across kubernetes\.io\/hostname/],
    ['zone spreading that blocks zone-less nodes', () => base((d) => (pod(d).topologySpreadConstraints[1].whenUnsatisfiable = 'DoNotSchedule')), /zone spread is not ScheduleAnyway/],
    ['spreading counting other pods', () => base((d) => (pod(d).topologySpreadConstraints[0].labelSelector.matchLabels = { app: 'x' })), /hostname spread does not count its own pods/],
    ['an API token in the pod', () => base((d) => delete pod(d).automountServiceAccountToken), /automountServiceAccountToken is not false \(no Kubernetes API calls/],
    ['an API token for the ServiceAccount', () => base((d) => delete d.find((x) => x.kind === 'ServiceAccount')!.automountServiceAccountToken), /ServiceAccount token-exchange-authz: automountServiceAccountToken is not false/],
    ['a writable root filesystem', () => base((d) => (pod(d).containers[0].securityContext.readOnlyRootFilesystem = false)), /readOnlyRootFilesystem is not true/],
    ['a capability added', () => base((d) => (pod(d).containers[0].securityContext.capabilities.add = ['NET_BIND_SERVICE'])), /capabilities are not exactly drop ALL/],
    ['no seccomp profile', () => base((d) => (delete pod(d).securityContext.seccompProfile, delete pod(d).containers[0].securityContext.seccompProfile)), /seccompProfile is not RuntimeDefault/],
    ['the host network', () => base((d) => (pod(d).hostNetwork = true)), /uses the host's namespaces/],
    ['gRPC port renamed', () => base((d) => (d.find((x) => x.kind === 'Service')!.spec.ports[0].name = 'tcp-authz')), /not named grpc with appProtocol grpc/],
    ['no NetworkPolicy', () => base((d) => d.splice(d.findIndex((x) => x.kind === 'NetworkPolicy'), 1)), /no NetworkPolicy selects/],
    ['NetworkPolicy admitting everyone', () => base((d) => delete networkPolicy(d).spec.ingress[0].from), /a rule admits every source to the gRPC port/],
    ['NetworkPolicy admitting every port', () => base((d) => delete networkPolicy(d).spec.ingress[1].ports), /is not a proxy but is admitted to the gRPC port/],
    ['NetworkPolicy admitting a whole namespace by name', () => base((d) => networkPolicy(d).spec.ingress[0].from.push({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } } })), /is not a proxy/],
    ['NetworkPolicy admitting an address block', () => base((d) => networkPolicy(d).spec.ingress[0].from.push({ ipBlock: { cidr: '0.0.0.0/0' } })), /ipBlock.*is not a proxy/],
    ['the gateway by pod label in any namespace', () => base((d) => delete networkPolicy(d).spec.ingress[0].from[0].namespaceSelector), /is not a proxy/],
    ['Prometheus not admitted', () => base((d) => networkPolicy(d).spec.ingress.pop()), /Prometheus is not admitted/],
    ['NetworkPolicy without Ingress', () => base((d) => (networkPolicy(d).spec.policyTypes = ['Egress'])), /policyTypes lacks Ingress/],
    ['no ALLOW policy', () => istio((d) => d.splice(d.indexOf(allowPolicy(d)), 1)), /expected one ALLOW AuthorizationPolicy/],
    ['ALLOW policy for a namespace', () => istio((d) => (allowPolicy(d).spec.rules[0].from[0].source = { namespaces: ['mcp'] })), /a source uses namespaces/],
    ['ALLOW policy naming another workload', () => istio((d) => allowPolicy(d).spec.rules[0].from[0].source.principals.push('cluster.local/ns/default/sa/default')), /are not exactly the proxies/],
    ['ALLOW policy missing the sidecar', () => istio((d) => allowPolicy(d).spec.rules[0].from[0].source.principals.pop()), /are not exactly the proxies/],
    ['ALLOW policy with a wildcard principal', () => istio((d) => (allowPolicy(d).spec.rules[0].from[0].source.principals[1] = '*')), /principal \* is not/],
    ['ALLOW policy for every source', () => istio((d) => delete allowPolicy(d).spec.rules[0].from), /a rule admits every source/],
    ['ALLOW policy on every port', () => istio((d) => delete allowPolicy(d).spec.rules[0].to), /not limited to ports \["9001"\]/],
    ['ALLOW policy on the HTTP port', () => istio((d) => (allowPolicy(d).spec.rules[0].to[0].operation.ports = ['9002'])), /not limited to ports/],
    ['ALLOW policy in the workload namespace', () => istio((d) => (allowPolicy(d).metadata.namespace = 'mcp')), /namespace mcp is not token-exchange-authz|expected one ALLOW/],
    ['mTLS permissive', () => istio((d) => (d.find((x) => x.kind === 'PeerAuthentication')!.spec.mtls.mode = 'PERMISSIVE')), /mTLS is not STRICT/],
    ['REDIS_URL to another host', () => redis((d) => (containerOf(d).env.find((e: Doc) => e.name === 'REDIS_URL').value = 'redis://redis.example.com:6379')), /is not redis:\/\/ to the Service/],
    ['REDIS_URL with a password', () => redis((d) => (containerOf(d).env.find((e: Doc) => e.name === 'REDIS_URL').value = 'redis://:hunter2@token-exchange-authz-redis:6379')), /carries a credential/],
    ['REDIS_URL on another port', () => redis((d) => (containerOf(d).env.find((e: Doc) => e.name === 'REDIS_URL').value = 'redis://token-exchange-authz-redis:6380')), /port 6380 is not a port/],
    ['cache keys not from a Secret file', () => redis((d) => (containerOf(d).volumeMounts.find((m: Doc) => m.name === 'cache-keys').readOnly = false)), /CACHE_KEYS_FILE .* is not a file of a read-only Secret volume/],
    ['Redis persisting', () => redis((d) => (containerOf(d, `${NAME}-redis`).args = containerOf(d, `${NAME}-redis`).args.slice(2))), /Redis persists data/],
    ['Redis open to all', () => redis((d) => (d.find((x) => x.kind === 'NetworkPolicy' && x.metadata.name === `${NAME}-redis`)!.spec.ingress[0].from = [{ podSelector: {} }])), /must admit only the token-exchange-authz pods/],
    ['Redis as root', () => check('redis', context, (d) => (containerOf(d, `${NAME}-redis`).securityContext.runAsNonRoot = false)), /token-exchange-authz-redis container redis: runAsNonRoot is not true/],
  ];
  for (const [name, problems, pattern] of cases) t.match(problems(), pattern, name);
});
