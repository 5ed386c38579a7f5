# The Accolade image: receiver (`python -m api.serve`), worker (`python -m worker`) and the
# `accolade` CLI, installed with pip from this repository. docker-compose.yml builds it once
# and runs it as `receiver`, `worker` (scalable) and the one-shot `accolade-migrate`.
#
# Two stages: the first builds a wheel from the source tree, the second installs only that
# wheel and its dependencies, so no source checkout, build tool or test lives in the image.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

# 3.11: the version the test suite runs on (pyproject says >= 3.11).
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
# An unprivileged user with a home: nothing in the hub needs root, and a writable working
# directory keeps any relative path (e.g. a SQLite URL in a test config) out of `/`.
RUN useradd --create-home --uid 10001 --user-group accolade
USER accolade
WORKDIR /home/accolade
ENV ACCOLADE_CONFIG=/etc/accolade/accolade.yaml
EXPOSE 8787
CMD ["python", "-m", "api.serve", "--config", "/etc/accolade/accolade.yaml"]
