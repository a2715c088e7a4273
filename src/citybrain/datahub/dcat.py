"""DCAT (DCAT-AP 2.1.1) description of the open-data catalogue, as an rdflib graph.

No database here: :func:`build_graph` takes plain records and returns a graph that serialises to
JSON-LD or Turtle. The export is checked in the tests with pyshacl against the DCAT-AP 2.1.1 SHACL
shapes (mandatory properties and ranges).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

#: EU Publications Office frequency vocabulary, which DCAT-AP names for dct:accrualPeriodicity.
FREQUENCY = Namespace("http://publications.europa.eu/resource/authority/frequency/")
FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")
LANGUAGE_ZH = URIRef("http://publications.europa.eu/resource/authority/language/ZHO")

FREQUENCIES = {
    "realtime": "CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
}


@dataclass(frozen=True)
class Publisher:
    uri: str
    name: str
    name_en: str | None = None


@dataclass(frozen=True)
class OpenDataset:
    uri: str
    identifier: str
    title: str
    title_en: str | None
    description: str
    keywords: list[str]
    publisher: Publisher
    issued: date | None
    modified: datetime
    update_cycle: str
    landing_page: str
    #: (title, access URL, media type) of each distribution
    distributions: list[tuple[str, str, str]] = field(default_factory=list)


def build_graph(
    catalogue_uri: str, title: str, title_en: str, description: str, publisher: Publisher, datasets: Iterable[OpenDataset]
) -> Graph:
    """The catalogue and its datasets as DCAT-AP triples (Chinese first, English where known)."""
    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dct", DCTERMS)
    g.bind("foaf", FOAF)
    catalogue = URIRef(catalogue_uri)
    g.add((catalogue, RDF.type, DCAT.Catalog))
    g.add((catalogue, DCTERMS.title, Literal(title, lang="zh")))
    g.add((catalogue, DCTERMS.title, Literal(title_en, lang="en")))
    g.add((catalogue, DCTERMS.description, Literal(description, lang="zh")))
    g.add((catalogue, DCTERMS.publisher, _agent(g, publisher)))
    g.add((catalogue, DCTERMS.language, LANGUAGE_ZH))
    g.add((LANGUAGE_ZH, RDF.type, DCTERMS.LinguisticSystem))
    for ds in datasets:
        node = URIRef(ds.uri)
        g.add((catalogue, DCAT.dataset, node))
        g.add((node, RDF.type, DCAT.Dataset))
        g.add((node, DCTERMS.identifier, Literal(ds.identifier)))
        g.add((node, DCTERMS.title, Literal(ds.title, lang="zh")))
        if ds.title_en:
            g.add((node, DCTERMS.title, Literal(ds.title_en, lang="en")))
        g.add((node, DCTERMS.description, Literal(ds.description, lang="zh")))
        for keyword in ds.keywords:
            g.add((node, DCAT.keyword, Literal(keyword, lang="zh")))
        g.add((node, DCTERMS.publisher, _agent(g, ds.publisher)))
        if ds.issued:
            g.add((node, DCTERMS.issued, Literal(ds.issued, datatype=XSD.date)))
        g.add((node, DCTERMS.modified, Literal(ds.modified.replace(microsecond=0).isoformat(), datatype=XSD.dateTime)))
        frequency = FREQUENCY[FREQUENCIES.get(ds.update_cycle, "IRREG")]
        g.add((node, DCTERMS.accrualPeriodicity, frequency))
        g.add((frequency, RDF.type, DCTERMS.Frequency))
        g.add((node, DCAT.landingPage, URIRef(ds.landing_page)))
        g.add((URIRef(ds.landing_page), RDF.type, FOAF.Document))
        g.add((node, DCTERMS.language, LANGUAGE_ZH))
        for title_, url, media_type in ds.distributions:
            dist = BNode()
            g.add((node, DCAT.distribution, dist))
            g.add((dist, RDF.type, DCAT.Distribution))
            g.add((dist, DCTERMS.title, Literal(title_, lang="zh")))
            g.add((dist, DCAT.accessURL, URIRef(url)))
            g.add((dist, DCAT.mediaType, URIRef(f"https://www.iana.org/assignments/media-types/{media_type}")))
            g.add((URIRef(f"https://www.iana.org/assignments/media-types/{media_type}"), RDF.type, DCTERMS.MediaType))
    return g


def _agent(g: Graph, publisher: Publisher) -> URIRef:
    agent = URIRef(publisher.uri)
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(publisher.name, lang="zh")))
    if publisher.name_en:
        g.add((agent, FOAF.name, Literal(publisher.name_en, lang="en")))
    return agent
