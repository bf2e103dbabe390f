"""The kinds of credential the detectors report.

A kind is what a refusal, a log line and the audit log name ("contains a Stripe key
(line 4)"), so it names the provider or the shape, never anything of the value.
"""

from __future__ import annotations

PRIVATE_KEY = "private key"
AWS_KEY_ID = "AWS access key id"
AWS_SECRET = "AWS secret access key"
GITHUB = "GitHub token"
GITLAB = "GitLab token"
SLACK = "Slack token"
OPENAI = "OpenAI API key"
ANTHROPIC = "Anthropic API key"
GOOGLE = "Google API key"
JWT = "JWT"
STRIPE = "Stripe key"
TWILIO = "Twilio credential"
SENDGRID = "SendGrid API key"
MAILGUN = "Mailgun API key"
NPM = "npm token"
PYPI = "PyPI token"
DOCKER_HUB = "Docker Hub token"
AZURE = "Azure access key"
GCP_SERVICE_ACCOUNT = "GCP service account key"
# Providers recognised by their token's prefix alone (tokens.PROVIDER_TOKENS).
OPENROUTER = "OpenRouter API key"
GROQ = "Groq API key"
XAI = "xAI API key"
PERPLEXITY = "Perplexity API key"
REPLICATE = "Replicate API token"
HUGGING_FACE = "Hugging Face token"
DIGITALOCEAN = "DigitalOcean token"
SHOPIFY = "Shopify token"
DATABRICKS = "Databricks token"
AGE = "age secret key"
VAULT = "HashiCorp Vault token"
DOPPLER = "Doppler token"
LINEAR = "Linear API key"
POSTMAN = "Postman API key"
GRAFANA = "Grafana token"
NEW_RELIC = "New Relic key"
HEROKU = "Heroku API key"
ATLASSIAN = "Atlassian API token"
SENTRY = "Sentry token"
SUPABASE = "Supabase token"
TAILSCALE = "Tailscale key"
PULUMI = "Pulumi token"
GOOGLE_OAUTH = "Google OAuth credential"
SQUARE = "Square token"
BRAINTREE = "Braintree token"
BITBUCKET = "Bitbucket app password"
DROPBOX = "Dropbox token"
AIRTABLE = "Airtable token"
NOTION = "Notion token"
FIGMA = "Figma token"
FLY = "Fly.io token"
NETLIFY = "Netlify token"
RENDER = "Render API key"
LANGSMITH = "LangSmith API key"
PINECONE = "Pinecone API key"
CONNECTION_STRING = "password in a connection string"
KUBERNETES_SECRET = "Kubernetes secret value"
GENERIC = "credential assignment"

ALL_KINDS: tuple[str, ...] = (
    PRIVATE_KEY,
    AWS_KEY_ID,
    AWS_SECRET,
    GITHUB,
    GITLAB,
    SLACK,
    OPENAI,
    ANTHROPIC,
    GOOGLE,
    JWT,
    STRIPE,
    TWILIO,
    SENDGRID,
    MAILGUN,
    NPM,
    PYPI,
    DOCKER_HUB,
    AZURE,
    GCP_SERVICE_ACCOUNT,
    OPENROUTER,
    GROQ,
    XAI,
    PERPLEXITY,
    REPLICATE,
    HUGGING_FACE,
    DIGITALOCEAN,
    SHOPIFY,
    DATABRICKS,
    AGE,
    VAULT,
    DOPPLER,
    LINEAR,
    POSTMAN,
    GRAFANA,
    NEW_RELIC,
    HEROKU,
    ATLASSIAN,
    SENTRY,
    SUPABASE,
    TAILSCALE,
    PULUMI,
    GOOGLE_OAUTH,
    SQUARE,
    BRAINTREE,
    BITBUCKET,
    DROPBOX,
    AIRTABLE,
    NOTION,
    FIGMA,
    FLY,
    NETLIFY,
    RENDER,
    LANGSMITH,
    PINECONE,
    CONNECTION_STRING,
    KUBERNETES_SECRET,
    GENERIC,
)
"""Every kind :func:`~localroute.privacy.secrets.find_secrets` may report."""
